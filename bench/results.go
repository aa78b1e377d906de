package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// Results is what one `herald bench` run writes to results.json.
type Results struct {
	Tool      string            `json:"tool"`
	Schema    int               `json:"schema"`
	Command   []string          `json:"command"`
	Started   time.Time         `json:"started"`
	Finished  time.Time         `json:"finished"`
	Machine   Machine           `json:"machine"`
	Config    Config            `json:"config"`
	Scenarios []*ScenarioResult `json:"scenarios"`
}

// ScenarioResult is one scenario at one setting (e.g. unicast at 20,000 msgs/s).
type ScenarioResult struct {
	Name     string    `json:"name"`  // scenario: unicast, idle, ...
	Label    string    `json:"label"` // name and setting: unicast@20000/s
	Status   string    `json:"status"`
	Error    string    `json:"error,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Load average (1, 5, 15 min) when the scenario started and ended: other work
	// on the machine shows here.
	LoadAvgStart [3]float64 `json:"loadavg_start"`
	LoadAvgEnd   [3]float64 `json:"loadavg_end"`
	Params       Params     `json:"params"`
	Figures      []Figure   `json:"figures"`
	// Latency is the end-to-end latency of measured messages: publish time in the
	// payload to receipt by the client.
	Latency *Latency `json:"latency,omitempty"`
	// Handshake is dial to welcome, per session (connect).
	Handshake *Latency `json:"handshake,omitempty"`
	// Reconnect is, per client that lost its connection, disconnect to the next
	// welcome (failover).
	Reconnect *Latency    `json:"reconnect,omitempty"`
	Timeline  []Sample    `json:"timeline,omitempty"`
	Nodes     []NodeStats `json:"nodes,omitempty"`
	Redis     *RedisStats `json:"redis,omitempty"`
	// Curve is the redis-memory scenario's measurement.
	Curve   *NodeCurve    `json:"stream_node_curve,omitempty"`
	Targets []TargetCheck `json:"targets,omitempty"`
	Notes   []string      `json:"notes,omitempty"`
}

// Scenario statuses.
const (
	statusOK           = "ok"
	statusFailed       = "failed"
	statusNotSupported = "not_supported"
)

// Params is the setting a scenario ran with.
type Params struct {
	Server      string  `json:"server"`         // herald or baseline (bare gws)
	Mode        string  `json:"mode,omitempty"` // unicast, broadcast, idle
	Clients     int     `json:"clients"`
	Nodes       int     `json:"nodes"`
	Rate        float64 `json:"rate"` // messages/s offered; 0 = flat out
	DurationS   float64 `json:"duration_s,omitempty"`
	HoldS       float64 `json:"hold_s,omitempty"`
	PayloadB    int     `json:"payload_bytes,omitempty"`
	Window      int     `json:"window,omitempty"` // flat out: messages in flight at most
	Workers     int     `json:"client_processes"` // processes holding the clients (1: the bench itself)
	SourceIPs   int     `json:"source_ips"`
	Concurrency int     `json:"concurrency,omitempty"`
	External    bool    `json:"external,omitempty"` // --target/--redis: nodes not started by the bench
}

// Figure is one measured number.
type Figure struct {
	Key   string  `json:"key"`
	Label string  `json:"label"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit,omitempty"`
}

// Sample is one second of a scenario.
type Sample struct {
	T           float64 `json:"t_s"` // since the scenario started
	Phase       string  `json:"phase"`
	Connected   int64   `json:"connected"`
	Published   float64 `json:"published_per_s"`
	Delivered   float64 `json:"delivered_per_s"`
	P50         float64 `json:"p50_ms,omitempty"`
	P99         float64 `json:"p99_ms,omitempty"`
	Max         float64 `json:"max_ms,omitempty"`
	NodeRSSMB   float64 `json:"node_rss_mb,omitempty"`
	NodeCPUPct  float64 `json:"node_cpu_pct,omitempty"`
	RedisCPUPct float64 `json:"redis_cpu_pct,omitempty"`
	// ClientCPUPct is the bench's own CPU: its clients (and workers) and publisher.
	ClientCPUPct float64 `json:"client_cpu_pct,omitempty"`
	// HostTakenPct is CPU time the host took from this machine (hostTakenPct).
	HostTakenPct float64 `json:"host_taken_pct,omitempty"`
}

// NodeStats is a server process at the end of a scenario (or of its hold).
type NodeStats struct {
	Name         string  `json:"name"`
	Addr         string  `json:"addr"`
	PID          int     `json:"pid,omitempty"`
	RSSBytes     float64 `json:"rss_bytes"`
	RSSSource    string  `json:"rss_source"`
	HeapInuse    float64 `json:"heap_inuse_bytes"`
	HeapAlloc    float64 `json:"heap_alloc_bytes"`
	StackInuse   float64 `json:"stack_inuse_bytes"`
	Goroutines   float64 `json:"goroutines"`
	Sessions     float64 `json:"sessions,omitempty"`
	CPUSeconds   float64 `json:"cpu_seconds"` // during the measured phase
	LastGCAgoS   float64 `json:"last_gc_ago_s,omitempty"`
	PushesOut    float64 `json:"pushes_out,omitempty"`
	SlowCloses   float64 `json:"slow_consumer_closes,omitempty"`
	WriteErrors  float64 `json:"write_errors,omitempty"`
	Killed       bool    `json:"killed,omitempty"`
	HeldLease    bool    `json:"held_lease,omitempty"`
	MetricsError string  `json:"metrics_error,omitempty"`
}

// RedisStats is the Redis side of a scenario.
type RedisStats struct {
	Addr            string  `json:"addr"`
	Version         string  `json:"version"`
	UsedMemoryStart float64 `json:"used_memory_start"`
	UsedMemoryEnd   float64 `json:"used_memory_end"`
	CPUSeconds      float64 `json:"cpu_seconds"` // during the measured phase
	// StreamNodeMaxBytes is the Redis's stream-node-max-bytes (CONFIG GET); 0
	// where Redis refused CONFIG.
	StreamNodeMaxBytes int64 `json:"stream_node_max_bytes,omitempty"`
	// From MEMORY USAGE of a sample of history streams: a fit of bytes against
	// entries, the cost of a recipient's first entry and of each further one.
	HistorySampled      int     `json:"history_sampled,omitempty"`
	PerRecipientBytes   float64 `json:"per_recipient_bytes,omitempty"`
	PerEntryBytes       float64 `json:"per_history_entry_bytes,omitempty"`
	IngressEntryBytes   float64 `json:"per_ingress_entry_bytes,omitempty"`
	PresenceBytes       float64 `json:"presence_bytes_per_user,omitempty"`
	HistoryProbeEntries int64   `json:"history_probe_entries,omitempty"`
	HistoryProbeBytes   float64 `json:"history_probe_bytes,omitempty"`
	MemoryMethodComment string  `json:"memory_method,omitempty"`
	// Commands is INFO commandstats over the measured phase, busiest first.
	Commands []CommandStat `json:"commands,omitempty"`
}

// CommandStat is one Redis command's calls and CPU time over the measured phase.
type CommandStat struct {
	Command     string  `json:"command"`
	Calls       int64   `json:"calls"`
	Usec        int64   `json:"usec"`
	UsecPerCall float64 `json:"usec_per_call"`
}

// TargetCheck is one target of the issue against what this run measured.
type TargetCheck struct {
	Target string `json:"target"`
	Value  string `json:"value"`
	Status string `json:"status"` // met, missed, n/a
	Note   string `json:"note,omitempty"`
}

// add sets a figure (replacing one with the same key).
func (s *ScenarioResult) add(key, label string, v float64, unit string) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	for i := range s.Figures {
		if s.Figures[i].Key == key {
			s.Figures[i] = Figure{Key: key, Label: label, Value: v, Unit: unit}
			return
		}
	}
	s.Figures = append(s.Figures, Figure{Key: key, Label: label, Value: v, Unit: unit})
}

// Figure returns the figure with key, and whether it exists.
func (s *ScenarioResult) Figure(key string) (float64, bool) {
	for _, f := range s.Figures {
		if f.Key == key {
			return f.Value, true
		}
	}
	return 0, false
}

func (s *ScenarioResult) note(format string, args ...any) {
	s.Notes = append(s.Notes, fmt.Sprintf(format, args...))
}

func (s *ScenarioResult) target(target, value, status, note string) {
	s.Targets = append(s.Targets, TargetCheck{Target: target, Value: value, Status: status, Note: note})
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadResults reads a results.json.
func ReadResults(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// printScenario prints one scenario's figures as a table.
func printScenario(w io.Writer, s *ScenarioResult) {
	fmt.Fprintf(w, "\n== %s: %s", s.Label, s.Status)
	if s.Error != "" {
		fmt.Fprintf(w, " (%s)", s.Error)
	}
	fmt.Fprintf(w, "  [load %.2f -> %.2f]\n", s.LoadAvgStart[0], s.LoadAvgEnd[0])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range s.Figures {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.Label, fmtNum(f.Value), f.Unit)
	}
	if l := s.Latency; l != nil {
		fmt.Fprintf(tw, "  latency p50 / p90 / p99 / p99.9 / max\t%s / %s / %s / %s / %s\tms\n",
			fmtNum(l.P50), fmtNum(l.P90), fmtNum(l.P99), fmtNum(l.P999), fmtNum(l.Max))
	}
	if l := s.Handshake; l != nil {
		fmt.Fprintf(tw, "  handshake p50 / p90 / p99 / p99.9 / max\t%s / %s / %s / %s / %s\tms\n",
			fmtNum(l.P50), fmtNum(l.P90), fmtNum(l.P99), fmtNum(l.P999), fmtNum(l.Max))
	}
	if l := s.Reconnect; l != nil {
		fmt.Fprintf(tw, "  reconnect p50 / p99 / max\t%s / %s / %s\tms\n", fmtNum(l.P50), fmtNum(l.P99), fmtNum(l.Max))
	}
	_ = tw.Flush()
	if s.Curve != nil {
		printCurve(w, s.Curve)
	}
	for _, t := range s.Targets {
		fmt.Fprintf(w, "  target %-6s %s: %s", t.Status, t.Target, t.Value)
		if t.Note != "" {
			fmt.Fprintf(w, " (%s)", t.Note)
		}
		fmt.Fprintln(w)
	}
	for _, n := range s.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

// printSummary prints one line per scenario.
func printSummary(w io.Writer, r *Results) {
	fmt.Fprintln(w, "\n== summary")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tstatus\tclients\tnodes\tmsgs/s\tp50 ms\tp99 ms\tp99.9 ms\tmax ms\tlost\tdup\tvs baseline\t")
	for _, s := range r.Scenarios {
		get := func(k string) string {
			if v, ok := s.Figure(k); ok {
				return fmtNum(v)
			}
			return "-"
		}
		lat := func(f func(*Latency) float64) string {
			if s.Latency == nil {
				return "-"
			}
			return fmtNum(f(s.Latency))
		}
		ratio := "-"
		if v, ok := s.Figure("ratio_to_baseline"); ok {
			ratio = fmt.Sprintf("%.0f%%", v*100)
		}
		rate := get("delivered_per_s")
		if rate == "-" {
			rate = get("sessions_per_s")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", s.Label, s.Status, s.Params.Clients, s.Params.Nodes,
			rate, lat(func(l *Latency) float64 { return l.P50 }), lat(func(l *Latency) float64 { return l.P99 }),
			lat(func(l *Latency) float64 { return l.P999 }), lat(func(l *Latency) float64 { return l.Max }),
			get("lost"), get("duplicated"), ratio)
	}
	_ = tw.Flush()
}

// fmtNum prints a number compactly: integers with thousands separators, others
// with 3 significant digits.
func fmtNum(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return thousands(int64(v))
	}
	a := math.Abs(v)
	switch {
	case a >= 1000:
		return thousands(int64(math.Round(v)))
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
