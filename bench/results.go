package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
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

// TargetCheck is one target of the bench suite against what this run measured.
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
