package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

const planUsage = `herald bench plan --from results.json --users N --rate R --p99 D [flags]
  estimates the nodes and Redis capacity for N users receiving R msgs/s in total with
  p99 <= D, from the measured limits in results.json, and says which limit binds.
  Redis memory comes from a redis-memory run (memory per recipient against the entries
  it holds) under the stream-node-max-bytes of the Redis measured, and the plan says
  what other values of it, of history.ttl and of history.size would take.
`

// Plan is the estimate `herald bench plan` prints.
type Plan struct {
	Users         int     `json:"users"`
	ConnsPerUser  float64 `json:"connections_per_user"`
	Rate          float64 `json:"rate"`
	P99Ms         float64 `json:"p99_ms"`
	Nodes         int     `json:"nodes"`
	NodesForConns int     `json:"nodes_for_connections"`
	NodesForRate  int     `json:"nodes_for_rate"`
	Binding       string  `json:"binding"`

	ConnsPerNode       float64 `json:"connections_per_node"`
	ConnsPerNodeLimit  string  `json:"connections_per_node_limit"`
	MsgsPerNode        float64 `json:"msgs_per_node"`
	MsgsPerNodeSource  string  `json:"msgs_per_node_source"`
	RedisMsgsPerS      float64 `json:"redis_msgs_per_s"`
	RedisMsgsSource    string  `json:"redis_msgs_source"`
	RedisMemoryBytes   float64 `json:"redis_memory_bytes"`
	RedisMemoryDetail  string  `json:"redis_memory_detail"`
	RedisShards        int     `json:"redis_shards"`
	RedisShardsForRate int     `json:"redis_shards_for_rate"`
	RedisShardsForMem  int     `json:"redis_shards_for_memory"`
	// The history streams' part of RedisMemoryBytes, under the
	// stream-node-max-bytes assumed, and what other settings would take.
	RedisHistoryBytes       float64           `json:"redis_history_bytes"`
	RedisHistoryRecipients  float64           `json:"redis_history_recipients"`
	RedisBytesPerRecipient  float64           `json:"redis_bytes_per_recipient"`
	RedisStreamNodeMaxBytes int64             `json:"redis_stream_node_max_bytes"`
	RedisMemoryAlternatives []PlanAlternative `json:"redis_memory_alternatives,omitempty"`
	Warnings                []string          `json:"warnings,omitempty"`
}

// runPlan is `herald bench plan`.
func runPlan(args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("herald bench plan", pflag.ContinueOnError)
	fs.SortFlags = false
	from := fs.StringSlice("from", []string{"results.json"}, "results.json of bench runs, comma-separated or repeated (unicast at several rates and idle at least)")
	input := planFlags(fs)
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(stdout, planUsage+"\nFlags:\n"+fs.FlagUsages())
		}
		return err
	}
	res, err := readResultsFiles(*from)
	if err != nil {
		return err
	}
	in, err := input()
	if err != nil {
		return err
	}
	p, err := makePlan(res, in)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	printPlan(stdout, res, p)
	return nil
}

// planFlags defines the flags of the plan's input; the function it returns
// reads them once they are parsed.
func planFlags(fs *pflag.FlagSet) func() (planInput, error) {
	users := fs.Int("users", 1_000_000, "users online at the same time")
	perUser := fs.Float64("connections-per-user", 1, "open sessions per online user (devices)")
	rate := fs.Float64("rate", 20_000, "messages/s published to users, in total")
	p99 := fs.Duration("p99", 100*time.Millisecond, "end-to-end p99 latency to keep")
	nodeRAM := fs.Float64("node-ram-gib", 0, "RAM per node in GiB (0: the measured machine's)")
	redisRAM := fs.Float64("redis-ram-gib", 0, "RAM per Redis instance in GiB (0: the measured machine's)")
	headroom := fs.Float64("headroom", 0.7, "fraction of a node's or Redis's capacity to plan for")
	active := fs.Float64("active", 1, "fraction of the users that receive at least one message within history.ttl")
	histSize := fs.Int("history-size", 1000, "history.size of the nodes")
	histTTL := fs.Duration("history-ttl", 24*time.Hour, "history.ttl of the nodes")
	nodeBytes := fs.Int64("stream-node-max-bytes", 0, "Redis's stream-node-max-bytes to plan with (0: the measured Redis's, read with CONFIG GET)")
	cmpTTL := fs.String("compare-ttl", "", "history.ttl values to compare with, comma-separated (default: a half and a quarter of --history-ttl)")
	cmpSize := fs.String("compare-size", "", "history.size values to compare with, comma-separated (default: a tenth and a hundredth of --history-size)")
	ingressSecs := fs.Duration("ingress-retained", 10*time.Second, "how much of herald:in Redis holds: the lease holder trims behind the groups every 5 s (more while a backlog or another group holds it back)")
	return func() (planInput, error) {
		in := planInput{
			users: *users, perUser: *perUser, rate: *rate, p99: float64(*p99) / float64(time.Millisecond),
			nodeRAM: *nodeRAM * (1 << 30), redisRAM: *redisRAM * (1 << 30), headroom: *headroom, active: *active,
			histSize: *histSize, histTTL: *histTTL, ingressSecs: ingressSecs.Seconds(), nodeMaxBytes: *nodeBytes,
		}
		err := in.parseComparisons(*cmpTTL, *cmpSize)
		return in, err
	}
}

// readResultsFiles reads results.json files into one set of results: the first
// file's machine and configuration, every file's runs.
func readResultsFiles(paths []string) (*Results, error) {
	var res *Results
	for _, f := range paths {
		r, err := ReadResults(f)
		if err != nil {
			return nil, err
		}
		if res == nil {
			res = r
		} else {
			res.Scenarios = append(res.Scenarios, r.Scenarios...)
		}
	}
	if res == nil {
		return nil, errors.New("plan: --from names no results.json")
	}
	return res, nil
}

type planInput struct {
	users             int
	perUser, rate     float64
	p99               float64 // ms
	nodeRAM, redisRAM float64 // bytes, 0 = machine's
	headroom, active  float64
	histSize          int
	histTTL           time.Duration
	ingressSecs       float64
	nodeMaxBytes      int64 // 0: the measured Redis's
	// History settings to compare with; both nil: defaultComparisons.
	compareTTL  []time.Duration
	compareSize []int
}

// makePlan sizes the nodes and the Redis for in from the measured runs of res.
func makePlan(res *Results, in planInput) (*Plan, error) {
	if in.users <= 0 || in.rate < 0 || in.perUser <= 0 || in.headroom <= 0 || in.headroom > 1 {
		return nil, errors.New("plan: --users, --connections-per-user must be positive, --rate not negative, --headroom in (0,1]")
	}
	p := &Plan{Users: in.users, ConnsPerUser: in.perUser, Rate: in.rate, P99Ms: in.p99}
	ram := float64(res.Machine.RAMBytes)
	if in.nodeRAM <= 0 {
		in.nodeRAM = ram
	}
	if in.redisRAM <= 0 {
		in.redisRAM = ram
	}
	planConnsPerNode(res, in, p)
	conns := float64(in.users) * in.perUser
	p.NodesForConns = int(math.Ceil(conns / p.ConnsPerNode))
	if err := planMsgsPerNode(res, in, p); err != nil {
		return nil, err
	}
	deliveries := in.rate * in.perUser
	p.NodesForRate = int(math.Ceil(deliveries / p.MsgsPerNode))
	p.Nodes = max(p.NodesForConns, p.NodesForRate, 1)
	if p.NodesForConns >= p.NodesForRate {
		p.Binding = "connections per node (" + p.ConnsPerNodeLimit + ")"
	} else {
		p.Binding = "messages/s per node (" + p.MsgsPerNodeSource + ")"
	}
	planRedisRate(res, in, p)
	planRedisMemory(res, in, p)
	p.RedisShardsForMem = int(math.Ceil(p.RedisMemoryBytes / (in.redisRAM * in.headroom)))
	p.RedisShards = max(p.RedisShardsForRate, p.RedisShardsForMem, 1)
	if p.RedisShards > 1 {
		p.warn("more than one Redis: run a Redis Cluster (redis.addrs) and streams.partitions >= the shard count so that routing spreads")
	}
	if res.Machine.Cores <= 2 {
		p.warn("measured on %d cores shared by the clients, Redis and Herald: per-node figures are a floor for dedicated machines", res.Machine.Cores)
	}
	return p, nil
}

func (p *Plan) warn(f string, a ...any) { p.Warnings = append(p.Warnings, fmt.Sprintf(f, a...)) }

// planConnsPerNode is the connections one node holds: the open-file limit, or
// the memory of idle connections (an idle run) when that binds first.
func planConnsPerNode(res *Results, in planInput, p *Plan) {
	fdLimit := float64(maxConnsPerNode)
	if res.Machine.FDLimit > 0 {
		fdLimit = math.Min(fdLimit, float64(res.Machine.FDLimit)-500)
	}
	p.ConnsPerNode, p.ConnsPerNodeLimit = fdLimit, fmt.Sprintf("open files: %d per process on the measured machine", res.Machine.FDLimit)
	idle := pick(res, func(s *ScenarioResult) bool { return s.Name == "idle" && s.Status == statusOK })
	if idle == nil {
		p.warn("no idle run in %s: memory per connection not measured, only the open-file limit is used", "results")
		return
	}
	per, _ := idle.Figure("rss_per_conn_bytes")
	empty, _ := idle.Figure("server_rss_empty_bytes")
	if per <= 0 {
		return
	}
	byRAM := (in.nodeRAM*in.headroom - empty) / per
	if byRAM < p.ConnsPerNode {
		p.ConnsPerNode = byRAM
		p.ConnsPerNodeLimit = fmt.Sprintf("memory: %.0f B RSS per idle connection (idle, %d connections), %.0f%% of %.1f GiB",
			per, idle.Params.Clients, in.headroom*100, in.nodeRAM/(1<<30))
	} else {
		p.ConnsPerNodeLimit += fmt.Sprintf(" (memory would allow %.0f: %.0f B per idle connection)", byRAM, per)
	}
}

// planMsgsPerNode is the deliveries one node makes per second: the fastest
// single-node unicast run whose p99 met the target and that lost nothing, else
// the fastest flat-out run, with a warning.
func planMsgsPerNode(res *Results, in planInput, p *Plan) error {
	best, flatOut := unicastRuns(res, in.p99)
	switch {
	case best != nil:
		bestRate := valueOf(best, "delivered_per_s")
		p.MsgsPerNode = bestRate * in.headroom
		p.MsgsPerNodeSource = fmt.Sprintf("%s: %s msgs/s with p99 %s ms (<= %s ms), times headroom %.0f%%",
			best.Label, fmtNum(bestRate), fmtNum(best.Latency.P99), fmtNum(in.p99), in.headroom*100)
		if flatOut != nil && best != flatOut {
			p.warn("the flat-out run (%s msgs/s, p99 %s ms) missed the p99; the per-node rate is from a paced run, so the real limit lies between",
				fmtNum(valueOf(flatOut, "delivered_per_s")), fmtNum(flatOut.Latency.P99))
		}
	case flatOut != nil:
		v := valueOf(flatOut, "delivered_per_s")
		p.MsgsPerNode = v * in.headroom
		p.MsgsPerNodeSource = fmt.Sprintf("%s: %s msgs/s flat out, times headroom %.0f%%", flatOut.Label, fmtNum(v), in.headroom*100)
		p.warn("no unicast run met p99 <= %s ms without loss: the per-node rate is the flat-out throughput, whose p99 was %s ms", fmtNum(in.p99), fmtNum(flatOut.Latency.P99))
	default:
		return errors.New("plan: results have no successful single-node unicast run (run: herald bench unicast --rate 0,2000,20000)")
	}
	return nil
}

// unicastRuns finds, among the successful single-node unicast runs, the fastest
// that met p99 (ms) without loss, and the fastest flat-out one.
func unicastRuns(res *Results, p99 float64) (best, flatOut *ScenarioResult) {
	var bestRate float64
	for _, s := range res.Scenarios {
		if s.Name != "unicast" || s.Status != statusOK || s.Latency == nil || s.Params.Nodes != 1 {
			continue
		}
		v, _ := s.Figure("delivered_per_s")
		lost, _ := s.Figure("lost")
		if s.Params.Rate == 0 && (flatOut == nil || v > valueOf(flatOut, "delivered_per_s")) {
			flatOut = s
		}
		if s.Latency.P99 <= p99 && lost == 0 && v > bestRate {
			best, bestRate = s, v
		}
	}
	return best, flatOut
}

// planRedisRate is the messages one Redis routes per second: one core's worth
// of the Redis CPU per message of the fastest unicast run that measured it.
func planRedisRate(res *Results, in planInput, p *Plan) {
	var cpuRun *ScenarioResult
	for _, s := range res.Scenarios {
		if (s.Name == "unicast" || s.Name == "cluster") && s.Status == statusOK && s.Params.Mode == modeUnicast {
			if _, ok := s.Figure("redis_cpu_us_per_msg"); ok && (cpuRun == nil || valueOf(s, "delivered_per_s") > valueOf(cpuRun, "delivered_per_s")) {
				cpuRun = s
			}
		}
	}
	if cpuRun != nil {
		us := valueOf(cpuRun, "redis_cpu_us_per_msg")
		p.RedisMsgsPerS = 1e6 / us * in.headroom
		p.RedisMsgsSource = fmt.Sprintf("%s: %.1f µs of Redis CPU per message (one core), times headroom %.0f%%", cpuRun.Label, us, in.headroom*100)
	} else {
		p.warn("no Redis CPU figure: Redis throughput not estimated")
	}
	if p.RedisMsgsPerS > 0 {
		p.RedisShardsForRate = int(math.Ceil(in.rate / p.RedisMsgsPerS))
	}
}

func valueOf(s *ScenarioResult, key string) float64 {
	v, _ := s.Figure(key)
	return v
}

// pick returns the matching run with the most clients.
func pick(res *Results, ok func(*ScenarioResult) bool) *ScenarioResult {
	var c []*ScenarioResult
	for _, s := range res.Scenarios {
		if ok(s) {
			c = append(c, s)
		}
	}
	if len(c) == 0 {
		return nil
	}
	sort.SliceStable(c, func(i, j int) bool { return c[i].Params.Clients > c[j].Params.Clients })
	return c[0]
}

func printPlan(w io.Writer, res *Results, p *Plan) {
	fmt.Fprintf(w, "plan for %s users x %g connections, %s msgs/s, p99 <= %s ms\n", fmtNum(float64(p.Users)), p.ConnsPerUser, fmtNum(p.Rate), fmtNum(p.P99Ms))
	fmt.Fprintf(w, "from %s runs measured on %s (%d cores, %.0f GiB), herald %s\n\n", fmtNum(float64(len(res.Scenarios))),
		res.Machine.CPUModel, res.Machine.Cores, float64(res.Machine.RAMBytes)/(1<<30), shortCommit(res.Machine.HeraldCommit, res.Machine.HeraldModified))
	fmt.Fprintf(w, "herald nodes:   %d   (binding: %s)\n", p.Nodes, p.Binding)
	fmt.Fprintf(w, "  for connections: %d nodes at %s connections per node; limit: %s\n", p.NodesForConns, fmtNum(math.Floor(p.ConnsPerNode)), p.ConnsPerNodeLimit)
	fmt.Fprintf(w, "  for messages:    %d nodes at %s deliveries/s per node; from %s\n", p.NodesForRate, fmtNum(math.Floor(p.MsgsPerNode)), p.MsgsPerNodeSource)
	fmt.Fprintf(w, "redis:          %d instance(s)", p.RedisShards)
	switch {
	case p.RedisShardsForRate >= p.RedisShardsForMem && p.RedisShardsForRate > 0:
		fmt.Fprintf(w, "   (binding: throughput)\n")
	default:
		fmt.Fprintf(w, "   (binding: memory)\n")
	}
	if p.RedisMsgsPerS > 0 {
		fmt.Fprintf(w, "  throughput: %d for %s msgs/s at %s msgs/s per instance; from %s\n", p.RedisShardsForRate, fmtNum(p.Rate), fmtNum(math.Floor(p.RedisMsgsPerS)), p.RedisMsgsSource)
	}
	fmt.Fprintf(w, "  memory:     %d for %.1f GiB: %s\n", p.RedisShardsForMem, p.RedisMemoryBytes/(1<<30), p.RedisMemoryDetail)
	printAlternatives(w, p)
	if len(p.Warnings) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, s := range p.Warnings {
			fmt.Fprintln(w, "  - "+strings.TrimSpace(s))
		}
	}
}
