package bench

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Config is a run's setting, from the command line. It is written to results.json
// (the secret masked).
type Config struct {
	Scenarios       []string      `json:"scenarios"`
	Clients         int           `json:"clients"`
	Rates           []float64     `json:"rates"` // msgs/s; 0 = flat out
	Duration        time.Duration `json:"duration"`
	Nodes           int           `json:"nodes"` // 0: the scenario's default
	Payload         int           `json:"payload_bytes"`
	Window          int           `json:"window"` // flat out: messages in flight (0: per scenario)
	Publishers      int           `json:"publishers"`
	Batch           int           `json:"batch"`
	Hold            time.Duration `json:"hold"`
	Concurrency     int           `json:"concurrency"`
	Drain           time.Duration `json:"drain"`
	KillAfter       time.Duration `json:"kill_after"`
	Topic           string        `json:"topic"`
	Target          []string      `json:"target,omitempty"`
	Redis           string        `json:"redis,omitempty"`
	Secret          string        `json:"-"`
	Prefix          string        `json:"prefix"`
	Partitions      int           `json:"partitions"`
	NodeFlags       []string      `json:"node_flags,omitempty"`
	Workers         int           `json:"workers"`
	ConnsPerProcess int           `json:"conns_per_process"`
	SourceIPs       int           `json:"source_ips"`
	ClientPing      time.Duration `json:"client_ping"`
	BaselineWriters int           `json:"baseline_writers"`
	Out             string        `json:"out"`
	CPUProfile      string        `json:"cpuprofile,omitempty"`
	HeraldBin       string        `json:"herald_bin,omitempty"`
	NoReport        bool          `json:"no_report,omitempty"`
	// RedisArgs are extra redis-server arguments for the Redis the bench starts.
	RedisArgs []string `json:"redis_args,omitempty"`
	// redis-memory: the stream-node-max-bytes values, entry counts and
	// recipients of the curve, the history.size it assumes, and CPU repetitions.
	NodeValues      []int64 `json:"stream_node_max_bytes_values,omitempty"`
	CurveEntries    []int   `json:"curve_entries,omitempty"`
	CurveRecipients int     `json:"curve_recipients,omitempty"`
	HistorySize     int     `json:"history_size,omitempty"`
	CPURuns         int     `json:"cpu_runs,omitempty"`
}

const benchUsage = `herald bench: load tests against Herald (see bench/RESULTS.md)

Usage:
  herald bench SCENARIO[,SCENARIO...] [flags]
  herald bench all [flags]
  herald bench plan --from results.json --users N --rate R --p99 D

Scenarios:
  baseline            the machine's ceiling: a bare gws server writing push frames to the same clients
  unicast             XADD to herald:in (at each --rate, 0 = flat out) -> clients; latency, delivered, lost, dup
  connect             session set-up rate and handshake latency (dial to welcome)
  idle                server RSS, heap and goroutines per idle connection after --hold
  failover            kill -9 one of 2+ nodes under load; lost must be 0; time until clients are back
  cluster             unicast (and broadcast) over 3 nodes, users spread over them
  baseline-broadcast  the baseline writing every message to every client
  broadcast           topic pushes to every client (subscribe); deliveries/s
  redis-memory        Redis memory per recipient against the entries its history holds, under several
                      stream-node-max-bytes values, and their CPU cost (no herald nodes)
  baseline-idle       idle connections on the bare gws server (for comparison)

By default each scenario starts its own redis-server on a free port and herald nodes
as child processes; --target and --redis run against existing ones.

Flags:
`

// parseConfig parses `herald bench` flags.
func parseConfig(args, environ []string) (*Config, *pflag.FlagSet, error) {
	c := &Config{}
	fs := pflag.NewFlagSet("herald bench", pflag.ContinueOnError)
	fs.SortFlags = false
	lists := c.defineFlags(fs)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		return nil, fs, err
	}
	if err := c.parseScenarios(fs.Args()); err != nil {
		return nil, fs, err
	}
	if err := c.parseRates(*lists.rates); err != nil {
		return nil, fs, err
	}
	c.Target = splitList(*lists.target)
	if err := c.parseCurve(*lists.nodeValues, *lists.entries); err != nil {
		return nil, fs, err
	}
	if c.Secret == "" {
		c.Secret = envValue(environ, "HERALD_AUTH__HMAC_SECRET")
	}
	if err := c.validate(); err != nil {
		return nil, fs, err
	}
	return c, fs, nil
}

// listFlags are the flags given as comma-separated lists, parsed after the others.
type listFlags struct {
	rates, target, nodeValues, entries *string
}

// defineFlags defines every flag, in the order --help lists them.
func (c *Config) defineFlags(fs *pflag.FlagSet) listFlags {
	var l listFlags
	fs.IntVar(&c.Clients, "clients", 1000, "connections (users u0..uN-1, one connection each)")
	l.rates = fs.String("rate", "0", "messages/s offered, comma-separated for several runs; 0 = flat out (at most --window in flight)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long each run publishes")
	fs.IntVar(&c.Nodes, "nodes", 0, "herald nodes to start (0: 1, cluster 3, failover 2, idle enough for the connections)")
	fs.IntVar(&c.Payload, "payload", 100, "payload size in bytes")
	fs.IntVar(&c.Window, "window", 0, "flat out: messages published but not yet delivered, at most (0: 2000 unicast, 4 broadcast)")
	fs.IntVar(&c.Publishers, "publishers", 4, "publishing goroutines (XADD pipelines)")
	fs.IntVar(&c.Batch, "batch", 50, "XADDs per pipeline at most")
	fs.DurationVar(&c.Hold, "hold", 180*time.Second, "idle: how long the connections stay open before measuring")
	fs.IntVar(&c.Concurrency, "concurrency", 200, "connection attempts in flight")
	fs.DurationVar(&c.Drain, "drain", 30*time.Second, "after publishing, wait at most this long for the last deliveries")
	fs.DurationVar(&c.KillAfter, "kill-after", 5*time.Second, "failover: kill -9 a node this long after publishing starts")
	fs.StringVar(&c.Topic, "topic", "bench", "broadcast: topic name")
	l.target = c.defineServerFlags(fs)
	fs.StringVar(&c.Out, "out", "", "directory for results.json, report.html and logs (default bench-out/<time>)")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write the bench process's CPU profile here (workers: FILE.workerN)")
	fs.BoolVar(&c.NoReport, "no-report", false, "skip report.html")
	fs.StringArrayVar(&c.RedisArgs, "redis-arg", nil, "extra argument for the redis-server the bench starts, e.g. --redis-arg=--stream-node-max-bytes=1024 (repeatable)")
	l.nodeValues = fs.String("stream-node-max-bytes", "4096,2048,1024,512,256", "redis-memory: the stream-node-max-bytes values to measure (the bench's own Redis only)")
	l.entries = fs.String("curve-entries", "1,2,3,5,10,20,30,50,100", "redis-memory: entry counts per recipient to measure, besides history.size")
	fs.IntVar(&c.CurveRecipients, "curve-recipients", 10000, "redis-memory: history streams per value")
	fs.IntVar(&c.HistorySize, "history-size", 1000, "redis-memory: history.size of the nodes (MAXLEN, and the full-history point)")
	fs.IntVar(&c.CPURuns, "cpu-runs", 5, "redis-memory: runs of each command's CPU measurement (the spread is reported)")
	fs.StringVar(&c.HeraldBin, "herald-bin", "", "herald binary for nodes and workers (default: this executable)")
	_ = fs.MarkHidden("herald-bin")
	return l
}

// defineServerFlags defines the flags of the servers and the clients' processes;
// it returns --target, a list.
func (c *Config) defineServerFlags(fs *pflag.FlagSet) *string {
	target := fs.String("target", "", "existing herald nodes host:port[,host:port...] (needs --redis and --secret)")
	fs.StringVar(&c.Redis, "redis", "", "existing Redis host:port for the nodes (started nodes use it too)")
	fs.StringVar(&c.Secret, "secret", "", "token secret of existing nodes (default $HERALD_AUTH__HMAC_SECRET; random for started nodes)")
	fs.StringVar(&c.Prefix, "prefix", "herald", "Redis key prefix (redis.prefix)")
	fs.IntVar(&c.Partitions, "partitions", 1, "ingress partitions (streams.partitions)")
	fs.StringArrayVar(&c.NodeFlags, "node-flag", nil, "extra flag for started nodes, e.g. --node-flag=--streams.read_count=1000 (repeatable)")
	fs.IntVar(&c.Workers, "workers", 0, "client worker processes (0: the bench process, or enough workers of --conns-per-process)")
	fs.IntVar(&c.ConnsPerProcess, "conns-per-process", 15000, "clients per process at most (the open-file limit here is 20,000)")
	fs.IntVar(&c.SourceIPs, "source-ips", 16, "loopback source addresses 127.0.0.2.. to spread client ports over (0: no binding)")
	fs.DurationVar(&c.ClientPing, "client-ping", 15*time.Second, "client ping interval")
	fs.IntVar(&c.BaselineWriters, "baseline-writers", 4, "baseline: writer goroutines of the bare server")
	return target
}

// parseScenarios reads the scenario names, comma-separated or not; all is every
// scenario but baseline-idle.
func (c *Config) parseScenarios(args []string) error {
	for _, a := range args {
		for _, s := range splitList(a) {
			if s == "all" {
				c.Scenarios = append(c.Scenarios, scenarioNames[:len(scenarioNames)-1]...)
				continue
			}
			if !known(s) {
				return fmt.Errorf("unknown scenario %q (scenarios: %s)", s, strings.Join(scenarioNames, ", "))
			}
			c.Scenarios = append(c.Scenarios, s)
		}
	}
	if len(c.Scenarios) == 0 {
		return errors.New("name a scenario: herald bench SCENARIO (herald bench --help lists them)")
	}
	return nil
}

// parseRates reads --rate; none given is flat out.
func (c *Config) parseRates(rates string) error {
	for _, r := range splitList(rates) {
		v, err := strconv.ParseFloat(r, 64)
		if err != nil || v < 0 {
			return fmt.Errorf("--rate: %q is not a rate (messages/s, 0 = flat out)", r)
		}
		c.Rates = append(c.Rates, v)
	}
	if len(c.Rates) == 0 {
		c.Rates = []float64{0}
	}
	return nil
}

// validate checks the counts and sizes.
func (c *Config) validate() error {
	switch {
	case c.Clients < 1:
		return errors.New("--clients must be at least 1")
	case c.Duration <= 0:
		return errors.New("--duration must be positive")
	case c.Payload < 40:
		return errors.New("--payload must be at least 40 bytes (sequence number and time)")
	case c.Publishers < 1 || c.Batch < 1:
		return errors.New("--publishers and --batch must be at least 1")
	case c.Partitions < 1:
		return errors.New("--partitions must be at least 1")
	case c.ConnsPerProcess < 1:
		return errors.New("--conns-per-process must be at least 1")
	case c.Concurrency < 1:
		return errors.New("--concurrency must be at least 1")
	}
	return nil
}

func known(s string) bool {
	for _, n := range scenarioNames {
		if n == s {
			return true
		}
	}
	return false
}

func envValue(environ []string, key string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// parseCurve reads the redis-memory flags: values and entry counts ascending and
// positive, entry counts below history.size (which is measured on its own).
func (c *Config) parseCurve(values, entries string) error {
	for _, s := range splitList(values) {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 1 {
			return fmt.Errorf("--stream-node-max-bytes: %q is not a positive number of bytes", s)
		}
		c.NodeValues = append(c.NodeValues, v)
	}
	last := 0
	for _, s := range splitList(entries) {
		k, err := strconv.Atoi(s)
		if err != nil || k <= last {
			return fmt.Errorf("--curve-entries: %q: want ascending positive counts", s)
		}
		c.CurveEntries, last = append(c.CurveEntries, k), k
	}
	switch {
	case len(c.NodeValues) == 0 || len(c.CurveEntries) == 0:
		return errors.New("--stream-node-max-bytes and --curve-entries need a value each at least")
	case c.HistorySize < 1 || last >= c.HistorySize:
		return fmt.Errorf("--history-size %d must be above every --curve-entries count", c.HistorySize)
	case c.CurveRecipients < 1 || c.CPURuns < 1:
		return errors.New("--curve-recipients and --cpu-runs must be at least 1")
	}
	return nil
}
