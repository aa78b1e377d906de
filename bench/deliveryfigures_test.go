package bench

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// measured is a delivery run that published for 10 s and drained for 2 s.
func measured() *deliveryMeasure {
	t0 := time.Unix(1000, 0)
	h := newHist()
	for v := int64(1000); v <= 3000; v++ {
		_ = h.RecordValue(v)
	}
	return &deliveryMeasure{
		t0: t0, t1: t0.Add(10 * time.Second), tEnd: t0.Add(12 * time.Second),
		atT1: 19000, expected: 20000,
		before: usage{nodeCPU: []float64{10, math.NaN()}, redisCPU: 5, clientCPU: 2},
		after:  usage{nodeCPU: []float64{15, 20}, redisCPU: 7, clientCPU: 6},
		fin:    Tick{Distinct: 20000, Dup: 3, LastDelivery: t0.Add(11 * time.Second).UnixNano()},
		lat:    h, rec: newHist(),
	}
}

func figures(s *ScenarioResult) map[string]float64 {
	out := map[string]float64{}
	for _, f := range s.Figures {
		out[f.Key] = f.Value
	}
	return out
}

func TestCountFigures(t *testing.T) {
	sr := &ScenarioResult{}
	src := &fakeSource{pub: 20000, errs: 2, first: "READONLY"}
	m := measured()
	m.fin.Misrouted, m.fin.Bad = 4, 5
	countFigures(sr, m, src, src.pub, modeUnicast)
	want := map[string]float64{"published": 20000, "publish_rate": 2000, "delivered": 20000, "lost": 0, "duplicated": 3,
		"misrouted": 4, "bad_payloads": 5, "publish_errors": 2}
	if got := figures(sr); !reflect.DeepEqual(got, want) {
		t.Errorf("figures %v, want %v", got, want)
	}
	if !reflect.DeepEqual(sr.Notes, []string{"first publish error: READONLY"}) {
		t.Errorf("notes %q", sr.Notes)
	}
	// The table order: published first, then what became of the messages.
	var keys []string
	for _, f := range sr.Figures {
		keys = append(keys, f.Key)
	}
	if strings.Join(keys, ",") != "published,publish_rate,delivered,lost,duplicated,misrouted,bad_payloads,publish_errors" {
		t.Errorf("order %v", keys)
	}
}

// More distinct deliveries than expected is said, and counts as nothing lost;
// a broadcast also says how many deliveries it expected.
func TestCountFiguresBroadcastAndExtra(t *testing.T) {
	sr := &ScenarioResult{}
	m := measured()
	m.expected, m.fin.Distinct = 100, 130
	countFigures(sr, m, &fakeSource{pub: 10}, 10, modeBroadcast)
	got := figures(sr)
	if got["expected"] != 100 || got["lost"] != 0 || got["delivered"] != 130 {
		t.Errorf("figures %v", got)
	}
	if _, ok := got["misrouted"]; ok {
		t.Error("misrouted shown while zero")
	}
	if len(sr.Notes) != 1 || sr.Notes[0] != "30 more distinct deliveries than expected" {
		t.Errorf("notes %q", sr.Notes)
	}
	sr = &ScenarioResult{}
	m.fin.Distinct = 60
	countFigures(sr, m, &fakeSource{pub: 10}, 10, modeBroadcast)
	if figures(sr)["lost"] != 40 {
		t.Errorf("lost %v, want 40", figures(sr)["lost"])
	}
}

func TestRateFigures(t *testing.T) {
	sr := &ScenarioResult{}
	for i, d := range []float64{500, 1900, 2000, 2100, 1800} {
		sr.Timeline = append(sr.Timeline, Sample{Phase: "measure", Delivered: d, P99: float64(i + 1)})
	}
	sr.Timeline = append(sr.Timeline, Sample{Phase: "drain", Delivered: 99999, P99: 999})
	m := measured()
	rateFigures(sr, m)
	got := figures(sr)
	want := map[string]float64{
		"delivered_per_s":           1900, // 19,000 at the end of 10 s
		"delivered_per_s_total":     20000 / 11.0,
		"delivered_per_s_median_1s": 1950, // of 1,900 2,000 2,100 1,800: the first second is left out
		"p99_median_1s_ms":          3.5,  // of 2 3 4 5
		"drain_s":                   2,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("figures %v, want %v", got, want)
	}
	if sr.Latency == nil || sr.Latency.Count != 2001 || !near(sr.Latency.P50, 2, 0.002) {
		t.Errorf("latency %+v", sr.Latency)
	}
	// Too short a run for a steady state, and no delivery at all.
	sr = &ScenarioResult{Timeline: []Sample{{Phase: "measure"}, {Phase: "measure"}, {Phase: "measure"}}}
	m.fin.LastDelivery, m.lat = 0, newHist()
	rateFigures(sr, m)
	if got := figures(sr); len(got) != 2 || sr.Latency != nil {
		t.Errorf("short run: %v, latency %+v", got, sr.Latency)
	}
}

func TestCPUFigures(t *testing.T) {
	sr := &ScenarioResult{}
	m := measured()
	a := hostSample{at: time.Unix(0, 0), accounted: 0, cores: 2, ok: true}
	m.before.host, m.after.host = a, hostSample{at: time.Unix(10, 0), accounted: 19, cores: 2, ok: true}
	cpuFigures(sr, m, 20000)
	got := figures(sr)
	want := map[string]float64{
		"server_cpu_pct":        50, // 5 s of the one node known at both ends, over 10 s
		"server_cpu_us_per_msg": 5e6 / 19000,
		"client_cpu_pct":        40,
		"host_taken_pct":        10,
		"redis_cpu_pct":         20,
		"redis_cpu_us_per_msg":  100,
	}
	for k, w := range want {
		if !near(got[k], w, 1e-9) {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("figures %v", got)
	}
	// Unknown CPU readings add no figure; nothing delivered, no per-message cost.
	sr = &ScenarioResult{}
	m.before.nodeCPU, m.before.redisCPU, m.atT1 = []float64{math.NaN()}, math.NaN(), 0
	m.before.host = hostSample{}
	cpuFigures(sr, m, 0)
	if got := figures(sr); len(got) != 1 || got["client_cpu_pct"] != 40 {
		t.Errorf("without readings: %v", got)
	}
}

func TestCPUBetween(t *testing.T) {
	a := usage{nodeCPU: []float64{1, math.NaN(), 3, 4}}
	b := usage{nodeCPU: []float64{2, 5, math.NaN()}}
	if sum, n := cpuBetween(a, b); sum != 1 || n != 1 {
		t.Errorf("cpuBetween = %v over %d nodes, want 1 over 1", sum, n)
	}
	if _, n := cpuBetween(usage{}, b); n != 0 {
		t.Error("nodes counted with no reading before")
	}
}

func TestSteadyStateAndMedian(t *testing.T) {
	if _, _, n := steadyState([]Sample{{Phase: "connect"}, {Phase: "measure"}}); n != 0 {
		t.Errorf("one measured second gave %d", n)
	}
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{5, 5}, 5}} {
		in := append([]float64(nil), tc.in...)
		if got := median(in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		if !reflect.DeepEqual(in, tc.in) {
			t.Errorf("median sorted its argument: %v", in)
		}
	}
}

func TestFailoverFigures(t *testing.T) {
	r := &runner{cfg: &Config{}}
	sr := &ScenarioResult{}
	r.failoverFigures(sr, &killInfo{victim: -1}, Tick{}, 10, 2)
	if len(sr.Figures) != 0 || len(sr.Notes) != 1 || !strings.Contains(sr.Notes[0], "no node was killed") {
		t.Errorf("no kill: %+v %q", sr.Figures, sr.Notes)
	}
	at := time.Unix(100, 0)
	sr = &ScenarioResult{}
	fin := Tick{Reconnects: 4, Down: 1, LastUp: at.Add(1500 * time.Millisecond).UnixNano()}
	r.failoverFigures(sr, &killInfo{victim: 1, at: at, heldLease: true, done: true}, fin, 10, 3)
	// Clients 1, 4 and 7 were on node 1 of 3.
	want := map[string]float64{"killed_node": 1, "clients_on_killed_node": 3, "reconnected": 4, "down_at_end": 1, "back_s": 1.5}
	if got := figures(sr); !reflect.DeepEqual(got, want) {
		t.Errorf("figures %v, want %v", got, want)
	}
	if len(sr.Notes) != 1 || !strings.Contains(sr.Notes[0], "held the ingress lease") {
		t.Errorf("notes %q", sr.Notes)
	}
	sr = &ScenarioResult{}
	r.failoverFigures(sr, &killInfo{victim: 0, at: at, done: true}, Tick{}, 4, 2)
	if _, ok := sr.Figure("back_s"); ok || len(sr.Notes) != 0 || figures(sr)["clients_on_killed_node"] != 2 {
		t.Errorf("nobody back: %+v %q", sr.Figures, sr.Notes)
	}
}

func TestConnectFigures(t *testing.T) {
	h := newHist()
	_ = h.RecordValue(2000)
	cs := connectSummary{Connected: 900, Failed: 100, FirstError: "dial: refused", Handshake: h, Start: time.Unix(0, 0), End: time.Unix(2, 0)}
	sr := &ScenarioResult{}
	connectFigures(sr, cs, usage{nodeCPU: []float64{1}, redisCPU: 1}, usage{nodeCPU: []float64{1.9}, redisCPU: 1.09})
	want := map[string]float64{"sessions": 900, "failed": 100, "sessions_per_s": 450, "connect_s": 2, "server_cpu_us_per_session": 1000, "redis_cpu_us_per_session": 100}
	got := figures(sr)
	for k, w := range want {
		if !near(got[k], w, 1e-9) {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
	if sr.Handshake == nil || sr.Handshake.P50 != 2 || len(sr.Notes) != 1 || sr.Notes[0] != "first connect error: dial: refused" {
		t.Errorf("handshake %+v, notes %q", sr.Handshake, sr.Notes)
	}
	sr = &ScenarioResult{}
	connectFigures(sr, connectSummary{Handshake: newHist(), End: time.Unix(1, 0)}, usage{nodeCPU: []float64{1}, redisCPU: 1}, usage{nodeCPU: []float64{2}, redisCPU: 2})
	if _, ok := sr.Figure("server_cpu_us_per_session"); ok {
		t.Error("CPU per session with no session")
	}
}

// The servers' growth per connection, from their readings empty and full.
func TestIdleFigures(t *testing.T) {
	empty := []NodeStats{{RSSBytes: 20e6, HeapInuse: 5e6, StackInuse: 1e6, Goroutines: 50}, {RSSBytes: 22e6, HeapInuse: 5e6, StackInuse: 1e6, Goroutines: 50}}
	full := []NodeStats{{Name: "node 0", RSSBytes: 60e6, HeapInuse: 30e6, StackInuse: 11e6, Goroutines: 5050, LastGCAgoS: 10},
		{Name: "node 1", RSSBytes: 62e6, HeapInuse: 30e6, StackInuse: 11e6, Goroutines: 5050, LastGCAgoS: 200}}
	sr := &ScenarioResult{}
	idleFigures(sr, empty, full, Tick{Connected: 10000, Reconnects: 2}, 180*time.Second)
	want := map[string]float64{"connections": 10000, "reconnects": 2, "rss_per_conn_bytes": 8000, "heap_per_conn_bytes": 5000,
		"stack_per_conn_bytes": 2000, "goroutines_per_conn": 1, "server_rss_bytes": 122e6, "server_rss_empty_bytes": 20e6}
	if got := figures(sr); !reflect.DeepEqual(got, want) {
		t.Errorf("figures %v, want %v", got, want)
	}
	if !reflect.DeepEqual(sr.Notes, []string{"node 1 ran no GC during the hold: its heap figure includes garbage"}) {
		t.Errorf("notes %q", sr.Notes)
	}
	sr = &ScenarioResult{}
	idleFigures(sr, empty[:1], full[:1], Tick{}, 60*time.Second)
	if _, ok := sr.Figure("rss_per_conn_bytes"); ok {
		t.Error("per-connection figures with no connection")
	}
	if len(sr.Notes) != 1 || !strings.HasPrefix(sr.Notes[0], "hold 1m0s: the Go runtime forces a GC only every 2 minutes") {
		t.Errorf("short hold notes %q", sr.Notes)
	}
}

func TestNodeStatsFromMetrics(t *testing.T) {
	now := time.Unix(1000, 0)
	m := map[string]float64{"process_resident_memory_bytes": 9e6, "go_memstats_heap_inuse_bytes": 1, "go_memstats_heap_alloc_bytes": 2,
		"go_memstats_stack_inuse_bytes": 3, "go_goroutines": 4, "herald_sessions": 5, "herald_pushes_out_total": 6,
		"herald_slow_consumer_closes_total": 7, "herald_write_errors_total": 8, "go_memstats_last_gc_time_seconds": 990}
	var n NodeStats
	n.fromMetrics(m, now)
	want := NodeStats{RSSBytes: 9e6, RSSSource: "process_resident_memory_bytes", HeapInuse: 1, HeapAlloc: 2, StackInuse: 3, Goroutines: 4,
		Sessions: 5, PushesOut: 6, SlowCloses: 7, WriteErrors: 8, LastGCAgoS: 10}
	if n != want {
		t.Errorf("node %+v\nwant %+v", n, want)
	}
	// /proc's RSS is kept over the node's own; no GC yet is no figure.
	n = NodeStats{RSSBytes: 1e6, RSSSource: "/proc/pid/status VmRSS"}
	delete(m, "go_memstats_last_gc_time_seconds")
	n.fromMetrics(m, now)
	if n.RSSBytes != 1e6 || n.LastGCAgoS != 0 {
		t.Errorf("node %+v", n)
	}
}
