package bench

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// NodeCurve is what the redis-memory scenario measured: Redis memory per recipient
// against the entries its history stream holds, under several values of Redis's
// stream-node-max-bytes, and what each value costs in Redis CPU on the commands
// Herald sends to history streams.
//
// Why it matters: Redis 7 preallocates min(stream-node-max-bytes, 4096) bytes for
// every new listpack node of a stream, so a recipient with one push costs a whole
// node. With many recipients holding few entries each, that floor, not the entries,
// is most of Herald's Redis memory.
type NodeCurve struct {
	RedisVersion string `json:"redis_version"`
	// Configured is the Redis's own stream-node-max-bytes before the scenario
	// changed it (CONFIG GET); 0 when Redis refused CONFIG.
	Configured   int64        `json:"configured_stream_node_max_bytes,omitempty"`
	PayloadBytes int          `json:"payload_bytes"`
	HistorySize  int          `json:"history_size"`
	Points       []CurvePoint `json:"points"`
	CPU          []CurveCPU   `json:"cpu,omitempty"`
	Method       string       `json:"method"`
}

// CurvePoint is the memory of Recipients history streams of Entries entries each
// under one stream-node-max-bytes value. Full marks the history.size point: the
// streams received more than history.size entries and are trimmed at every
// append, as a full history is.
type CurvePoint struct {
	NodeMaxBytes      int64   `json:"stream_node_max_bytes"`
	Entries           int     `json:"entries"`
	Recipients        int     `json:"recipients"`
	BytesPerRecipient float64 `json:"bytes_per_recipient"`
	Full              bool    `json:"full,omitempty"`
}

// CurveCPU is one command's cost under one stream-node-max-bytes value, over
// repeated runs: Redis's own time in the command (INFO commandstats) and all of
// Redis's CPU (INFO cpu, protocol and I/O included) per call.
type CurveCPU struct {
	NodeMaxBytes int64     `json:"stream_node_max_bytes"`
	Op           string    `json:"op"`
	Label        string    `json:"label"`
	Calls        int64     `json:"calls_per_run"`
	UsecPerCall  float64   `json:"usec_per_call"` // median of Runs
	MinUsec      float64   `json:"usec_per_call_min"`
	MaxUsec      float64   `json:"usec_per_call_max"`
	Runs         []float64 `json:"usec_per_call_runs"`
	CPUPerCall   float64   `json:"redis_cpu_usec_per_call"` // median, INFO cpu
	CPURuns      []float64 `json:"redis_cpu_usec_per_call_runs"`
}

// Values lists the stream-node-max-bytes values measured, largest first.
func (c *NodeCurve) Values() []int64 {
	var vs []int64
	for _, p := range c.Points {
		if !slices.Contains(vs, p.NodeMaxBytes) {
			vs = append(vs, p.NodeMaxBytes)
		}
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i] > vs[j] })
	return vs
}

// row is one value's points, by entries.
func (c *NodeCurve) row(v int64) []CurvePoint {
	var out []CurvePoint
	for _, p := range c.Points {
		if p.NodeMaxBytes == v {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Entries < out[j].Entries })
	return out
}

// At is the memory of one recipient holding k entries under value v: linear
// between the measured entry counts (and between the two measured values around
// v), the full point's cost from there on. exact is false when v was not
// measured and lies between or outside measured values.
func (c *NodeCurve) At(v int64, k float64) (bytes float64, exact bool) {
	vs := c.Values()
	if len(vs) == 0 {
		return 0, false
	}
	if slices.Contains(vs, v) {
		return rowAt(c.row(v), k), true
	}
	// vs is sorted largest first; clamp outside, interpolate inside.
	if v > vs[0] {
		return rowAt(c.row(vs[0]), k), false
	}
	if v < vs[len(vs)-1] {
		return rowAt(c.row(vs[len(vs)-1]), k), false
	}
	for i := 0; i+1 < len(vs); i++ {
		hi, lo := vs[i], vs[i+1]
		if v < hi && v > lo {
			f := float64(v-lo) / float64(hi-lo)
			return rowAt(c.row(lo), k)*(1-f) + rowAt(c.row(hi), k)*f, false
		}
	}
	return 0, false
}

// rowAt interpolates one value's points at k entries.
func rowAt(row []CurvePoint, k float64) float64 {
	if len(row) == 0 {
		return 0
	}
	if k <= float64(row[0].Entries) {
		return row[0].BytesPerRecipient
	}
	for i := 0; i+1 < len(row); i++ {
		a, b := row[i], row[i+1]
		if k <= float64(b.Entries) {
			f := (k - float64(a.Entries)) / float64(b.Entries-a.Entries)
			return a.BytesPerRecipient + f*(b.BytesPerRecipient-a.BytesPerRecipient)
		}
	}
	return row[len(row)-1].BytesPerRecipient
}

// MaxEntries is the largest entry count measured: the history.size point.
func (c *NodeCurve) MaxEntries() int {
	n := 0
	for _, p := range c.Points {
		n = max(n, p.Entries)
	}
	return n
}

// poissonCost is the mean memory of a recipient that holds at least one entry,
// when the entries it received within history.ttl follow a Poisson law of mean
// mean, history keeps at most size of them and cost(k) is the memory of k entries.
// It also returns the share of recipients with at least one entry (1 - e^-mean):
// the others have no history stream at all.
//
// Why a distribution and not the mean: the curve is not linear (a recipient pays a
// whole listpack node for its first entry, and another for the entry that
// overflows it), so the cost of the mean count is not the mean cost.
func poissonCost(mean float64, size int, cost func(k float64) float64) (perRecipient, withStream float64) {
	if mean <= 0 || size < 1 {
		return 0, 0
	}
	withStream = -math.Expm1(-mean)
	// Sum from the mode outwards over ±12 standard deviations: the rest weighs
	// nothing. P(K=k) in logs, so that large means do not underflow.
	sd := math.Sqrt(mean)
	lo := max(1, int(mean-12*sd-10))
	hi := int(mean + 12*sd + 10)
	var sum, mass float64
	for k := lo; k <= hi; k++ {
		lg, _ := math.Lgamma(float64(k) + 1)
		p := math.Exp(float64(k)*math.Log(mean) - mean - lg)
		sum += p * cost(float64(min(k, size)))
		mass += p
	}
	if mass <= 0 {
		return cost(float64(min(int(math.Round(mean)), size))), withStream
	}
	return sum / mass, withStream
}

// describe is a one-line account of the curve for plan output and notes.
func (c *NodeCurve) describe() string {
	return fmt.Sprintf("redis %s, %d-byte payloads, stream-node-max-bytes %v, history.size %d",
		c.RedisVersion, c.PayloadBytes, c.Values(), c.HistorySize)
}
