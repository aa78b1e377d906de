package bench

import (
	"context"
	"math"
	"strconv"
	"time"
)

// nodeStats reads every node's memory, goroutines and counters at the end.
func (r *runner) nodeStats(ctx context.Context, e *env, before, after usage) []NodeStats {
	var out []NodeStats
	for i, base := range e.bases {
		n := NodeStats{Name: "node " + strconv.Itoa(i), Addr: base}
		if e.kind == kindBaseline {
			n.Name = "baseline"
		}
		if p := e.procs[i]; p != nil {
			n.PID = p.PID()
			if !p.alive() {
				n.MetricsError = "not running"
				out = append(out, n)
				continue
			}
			if rss, ok := procRSS(p.PID()); ok {
				n.RSSBytes, n.RSSSource = rss, "/proc/pid/status VmRSS"
			}
		}
		if i < len(before.nodeCPU) && i < len(after.nodeCPU) {
			n.CPUSeconds = after.nodeCPU[i] - before.nodeCPU[i]
			if math.IsNaN(n.CPUSeconds) {
				n.CPUSeconds = 0
			}
		}
		m, err := scrapeMetrics(ctx, base+"/metrics")
		if err != nil {
			n.MetricsError = err.Error()
			out = append(out, n)
			continue
		}
		n.fromMetrics(m, time.Now())
		out = append(out, n)
	}
	return out
}

// fromMetrics fills a node's figures from its /metrics; RSS comes from there only
// when /proc did not give it (a node the bench did not start).
func (n *NodeStats) fromMetrics(m map[string]float64, now time.Time) {
	if n.RSSSource == "" {
		n.RSSBytes, n.RSSSource = m["process_resident_memory_bytes"], "process_resident_memory_bytes"
	}
	n.HeapInuse = m["go_memstats_heap_inuse_bytes"]
	n.HeapAlloc = m["go_memstats_heap_alloc_bytes"]
	n.StackInuse = m["go_memstats_stack_inuse_bytes"]
	n.Goroutines = m["go_goroutines"]
	n.Sessions = m["herald_sessions"]
	n.PushesOut = m["herald_pushes_out_total"]
	n.SlowCloses = m["herald_slow_consumer_closes_total"]
	n.WriteErrors = m["herald_write_errors_total"]
	if gc := m["go_memstats_last_gc_time_seconds"]; gc > 0 {
		n.LastGCAgoS = float64(now.UnixNano())/1e9 - gc
	}
}
