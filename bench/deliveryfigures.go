package bench

import (
	"context"
	"math"
	"sort"
	"time"
)

// The figures of a delivery run, from what its measured phase and drain saw. They
// are added in the order the tables print them.

// deliveryFigures turns a delivery run's measurements into its figures, notes,
// Redis and node statistics.
func (r *runner) deliveryFigures(ctx context.Context, d *deliveryState, m *deliveryMeasure) {
	sr := d.sr
	published := d.src.published()
	countFigures(sr, m, d.src, published, d.o.mode)
	rateFigures(sr, m)
	cpuFigures(sr, m, published)
	if m.fin.ErrFrames > 0 {
		sr.note("%d error frames; last: %s", m.fin.ErrFrames, m.fin.LastError)
	}
	if d.o.failover {
		r.failoverFigures(sr, &m.kill, m.fin, r.cfg.Clients, len(d.e.urls))
		sr.Reconnect = summarize(m.rec)
	}
	if d.o.kind == kindHerald {
		r.redisFigures(ctx, d, m)
	}
	sr.Nodes = r.nodeStats(ctx, d.e, m.before, m.after)
	if k := m.kill; k.victim >= 0 && k.victim < len(sr.Nodes) && k.done {
		sr.Nodes[k.victim].Killed = true
		sr.Nodes[k.victim].HeldLease = k.heldLease
	}
	var slow float64
	for _, n := range sr.Nodes {
		slow += n.SlowCloses
	}
	if slow > 0 {
		sr.note("%.0f sessions were closed as slow consumers (4008)", slow)
	}
}

// countFigures are the messages published and what became of them: delivered,
// lost, duplicated, misrouted, unreadable.
func countFigures(sr *ScenarioResult, m *deliveryMeasure, src source, published int64, mode string) {
	pubWin := m.t1.Sub(m.t0).Seconds()
	sr.add("published", "messages published", float64(published), "msgs")
	sr.add("publish_rate", "publish rate achieved", float64(published)/pubWin, "msgs/s")
	if mode == modeBroadcast {
		sr.add("expected", "deliveries expected", float64(m.expected), "deliveries")
	}
	fin := m.fin
	sr.add("delivered", "delivered (distinct)", float64(fin.Distinct), "")
	lost := m.expected - fin.Distinct
	if lost < 0 {
		sr.note("%d more distinct deliveries than expected", -lost)
		lost = 0
	}
	sr.add("lost", "lost", float64(lost), "")
	sr.add("duplicated", "duplicated (same message again)", float64(fin.Dup), "")
	if fin.Misrouted > 0 {
		sr.add("misrouted", "pushes for another user", float64(fin.Misrouted), "")
	}
	if fin.Bad > 0 {
		sr.add("bad_payloads", "payloads that did not parse", float64(fin.Bad), "")
	}
	if n := src.errorCount(); n > 0 {
		sr.add("publish_errors", "publish errors", float64(n), "")
		sr.note("first publish error: %s", src.firstError())
	}
}

// rateFigures are the throughputs, the drain and the latencies, the clients'
// and the nodes' own.
func rateFigures(sr *ScenarioResult, m *deliveryMeasure) {
	pubWin := m.t1.Sub(m.t0).Seconds()
	sr.add("delivered_per_s", "throughput while publishing", float64(m.atT1)/pubWin, "msgs/s")
	if m.fin.LastDelivery > 0 {
		sr.add("delivered_per_s_total", "throughput incl. drain (all deliveries / first publish to last delivery)",
			float64(m.fin.Distinct)/time.Unix(0, m.fin.LastDelivery).Sub(m.t0).Seconds(), "msgs/s")
	}
	if med, p99, n := steadyState(sr.Timeline); n >= 3 {
		sr.add("delivered_per_s_median_1s", "median of the per-second throughputs while publishing", med, "msgs/s")
		sr.add("p99_median_1s_ms", "median of the per-second p99 latencies while publishing", p99, "ms")
	}
	sr.add("drain_s", "drain after publishing stopped", m.tEnd.Sub(m.t1).Seconds(), "s")
	sr.Latency = summarize(m.lat)
	addNodeLatencies(sr, m.latBefore, m.latAfter)
}

// cpuFigures are the CPU the servers, the bench's clients, the host and Redis
// took while publishing, in all and per message.
func cpuFigures(sr *ScenarioResult, m *deliveryMeasure, published int64) {
	pubWin := m.t1.Sub(m.t0).Seconds()
	before, after := m.before, m.after
	if cpu, n := cpuBetween(before, after); n > 0 {
		sr.add("server_cpu_pct", "server CPU while publishing (100% = one core)", cpu/pubWin*100, "%")
		if m.atT1 > 0 {
			sr.add("server_cpu_us_per_msg", "server CPU per delivery", cpu/float64(m.atT1)*1e6, "µs")
		}
	}
	sr.add("client_cpu_pct", "bench clients and publisher CPU while publishing", (after.clientCPU-before.clientCPU)/pubWin*100, "%")
	if pct, ok := hostTakenPct(before.host, after.host); ok {
		sr.add("host_taken_pct", "CPU time the host took from this machine while publishing (steal, or accounted to nothing; 100% = one core)", pct, "%")
	}
	if !math.IsNaN(before.redisCPU) && !math.IsNaN(after.redisCPU) {
		rc := after.redisCPU - before.redisCPU
		sr.add("redis_cpu_pct", "Redis CPU while publishing", rc/pubWin*100, "%")
		if published > 0 {
			sr.add("redis_cpu_us_per_msg", "Redis CPU per published message", rc/float64(published)*1e6, "µs")
		}
	}
}

// redisFigures are Redis's statistics of a Herald run and its memory per
// recipient and per history entry (a long history probed after unicast runs).
func (r *runner) redisFigures(ctx context.Context, d *deliveryState, m *deliveryMeasure) {
	sr := d.sr
	sr.Redis = r.redisStats(ctx, d.e, d.hist, m.before, m.after)
	if d.o.mode == modeUnicast && sr.Redis != nil && sr.Redis.PerRecipientBytes > 0 {
		r.probeFullHistory(ctx, d.e, d.rs, sr.Redis)
	}
	if sr.Redis != nil && sr.Redis.PerRecipientBytes > 0 {
		sr.add("redis_bytes_per_recipient", "Redis: history stream of a recipient with 1 entry", sr.Redis.PerRecipientBytes, "B")
	}
	if sr.Redis != nil && sr.Redis.PerEntryBytes > 0 {
		sr.add("redis_bytes_per_entry", "Redis: each further history entry", sr.Redis.PerEntryBytes, "B")
	}
}

// steadyState is the median of the per-second throughputs and p99 latencies of the
// measured phase's full seconds (the first one, when publishing starts, is left
// out): on a machine shared with other work, a figure less moved by a few bad
// seconds than the whole run's.
func steadyState(tl []Sample) (throughput, p99 float64, n int) {
	var ts, ps []float64
	first := true
	for _, s := range tl {
		if s.Phase != "measure" {
			continue
		}
		if first {
			first = false
			continue
		}
		ts = append(ts, s.Delivered)
		ps = append(ps, s.P99)
	}
	if len(ts) == 0 {
		return 0, 0, 0
	}
	return median(ts), median(ps), len(ts)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
