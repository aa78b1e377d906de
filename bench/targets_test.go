package bench

import (
	"strings"
	"testing"
)

func TestThroughputTargetNeedsTheFloorAndTheRatio(t *testing.T) {
	for _, c := range []struct {
		rate, ratio float64
		hasRatio    bool
		want        string
	}{
		{45000, 0.55, true, metOrMissed(true)},
		{45000, 0.45, true, metOrMissed(false)}, // fast enough, too far under the baseline
		{35000, 0.60, true, metOrMissed(false)}, // over the ratio, under the floor
		{45000, 0, false, metOrMissed(true)},    // no baseline: the floor alone
	} {
		s := &ScenarioResult{}
		s.add("delivered_per_s", "", c.rate, "msgs/s")
		if c.hasRatio {
			s.add("ratio_to_baseline", "", c.ratio, "")
		}
		s.throughputTarget("unicast flat out", "msgs/s", "baseline", 40000, 0.5, "n")
		got := s.Targets[0]
		if got.Status != c.want {
			t.Errorf("%.0f msgs/s, ratio %.2f (%v): %s, want %s", c.rate, c.ratio, c.hasRatio, got.Status, c.want)
		}
		if !c.hasRatio && !strings.Contains(got.Note, "no baseline") {
			t.Errorf("without a baseline the note says %q", got.Note)
		}
		if c.hasRatio && !strings.Contains(got.Value, "% of baseline") {
			t.Errorf("with a baseline the value says %q", got.Value)
		}
	}
}

// judged runs evaluateTargets on one Herald run and returns its targets.
func judged(s *ScenarioResult, nodeFlags ...string) []TargetCheck {
	r := &Results{Config: Config{NodeFlags: nodeFlags}, Scenarios: []*ScenarioResult{s}}
	evaluateTargets(r)
	return s.Targets
}

func heraldRun(name string, rate float64, clients int) *ScenarioResult {
	return &ScenarioResult{Name: name, Label: name, Status: statusOK, Params: Params{Server: kindHerald, Mode: modeUnicast, Clients: clients, Rate: rate, HoldS: 180}}
}

// Each target at its boundary: the stated value itself is met.
func TestTargetsAtTheirBoundaries(t *testing.T) {
	withLatency := func(s *ScenarioResult, p99 float64) *ScenarioResult { s.Latency = &Latency{P99: p99}; return s }
	withFigure := func(s *ScenarioResult, key string, v float64) *ScenarioResult { s.add(key, key, v, ""); return s }
	for _, tc := range []struct {
		name   string
		run    *ScenarioResult
		target string
		status string
		value  string
	}{
		{"p99 at 2k, 5 ms", withLatency(heraldRun("unicast", 2000, 10000), 5), "unicast p99 at 2,000 msgs/s <= 5 ms", "met", "5 ms"},
		{"p99 at 2k, 5.01 ms", withLatency(heraldRun("unicast", 2000, 10000), 5.01), "unicast p99 at 2,000 msgs/s <= 5 ms", "missed", "5.01 ms"},
		{"p99 at 20k, 25 ms", withLatency(heraldRun("unicast", 20000, 10000), 25), "unicast p99 at 20,000 msgs/s <= 25 ms", "met", "25 ms"},
		{"p99 at 20k, 25.1 ms", withLatency(heraldRun("unicast", 20000, 10000), 25.1), "unicast p99 at 20,000 msgs/s <= 25 ms", "missed", "25.1 ms"},
		{"connect 5,000/s", withFigure(heraldRun("connect", 0, 10000), "sessions_per_s", 5000), "connect >= 5,000 sessions/s", "met", "5,000 sessions/s"},
		{"connect 4,999/s", withFigure(heraldRun("connect", 0, 10000), "sessions_per_s", 4999), "connect >= 5,000 sessions/s", "missed", "4,999 sessions/s"},
		{"idle 8 KiB", withFigure(heraldRun("idle", 0, 10000), "rss_per_conn_bytes", 8192), "server RSS per idle connection <= 8 KiB", "met", "8.00 KiB"},
		{"idle 8 KiB + 1", withFigure(heraldRun("idle", 0, 19000), "rss_per_conn_bytes", 8193), "server RSS per idle connection <= 8 KiB", "missed", "8.00 KiB"},
		{"flat out 40,000", withFigure(withFigure(heraldRun("unicast", 0, 10000), "delivered_per_s", 40000), "ratio_to_baseline", 0.5), "unicast flat out >= 40,000 msgs/s and >= 50% of baseline", "met", "40,000 msgs/s, 50% of baseline"},
		{"broadcast 150,000", withFigure(withFigure(heraldRun("broadcast", 0, 10000), "delivered_per_s", 150000), "ratio_to_baseline", 0.79), "broadcast >= 150,000 deliveries/s and >= 80% of baseline", "missed", "150,000 deliveries/s, 79% of baseline"},
	} {
		got := judged(tc.run)
		if len(got) != 1 || got[0].Target != tc.target || got[0].Status != tc.status || got[0].Value != tc.value {
			t.Errorf("%s: %+v, want %s %s: %s", tc.name, got, tc.status, tc.target, tc.value)
		}
	}
}

// Runs without a stated target get none: other rates, failed runs, the baseline.
func TestTargetsOnlyWhereStated(t *testing.T) {
	paced := heraldRun("unicast", 400, 10000)
	paced.Latency = &Latency{P99: 1}
	noLatency := heraldRun("unicast", 2000, 10000)
	failed := heraldRun("connect", 0, 10000)
	failed.Status = statusFailed
	failed.add("sessions_per_s", "", 9000, "")
	base := heraldRun("unicast", 0, 10000)
	base.Params.Server = kindBaseline
	base.add("delivered_per_s", "", 90000, "")
	idleNoFigure := heraldRun("idle", 0, 10000)
	cluster := heraldRun("cluster", 0, 10000)
	cluster.add("delivered_per_s", "", 90000, "")
	for _, s := range []*ScenarioResult{paced, noLatency, failed, base, idleNoFigure, cluster} {
		if got := judged(s); len(got) != 0 {
			t.Errorf("%s (%s, %s, rate %v): targets %+v", s.Name, s.Status, s.Params.Server, s.Params.Rate, got)
		}
	}
	ns := heraldRun("broadcast", 0, 10000)
	ns.Status, ns.Error = statusNotSupported, "not supported by this node: topics off"
	if got := judged(ns); len(got) != 1 || got[0].Status != "missed" || got[0].Note != ns.Error {
		t.Errorf("not supported: %+v", got)
	}
}

// The note says how a run differs from the setting its target is stated at.
func TestTargetNotes(t *testing.T) {
	small := heraldRun("unicast", 2000, 500)
	small.Latency = &Latency{P99: 1}
	small.Params.External = true
	got := judged(small, "--streams.read_count=10", "--log.level=info")
	want := "measured at 500 connections against given nodes, node flags --streams.read_count=10 --log.level=info; the target is stated at 10000 connections"
	if len(got) != 1 || got[0].Note != want {
		t.Errorf("note %+v\nwant %q", got, want)
	}
	idle := heraldRun("idle", 0, 19000)
	idle.Params.HoldS = 60
	idle.add("rss_per_conn_bytes", "", 7000, "B")
	got = judged(idle)
	if want := "measured at 19000 connections; the target is stated at 10,000 and 19,000 connections after 180 s, hold 60 s"; len(got) != 1 || got[0].Note != want {
		t.Errorf("idle note %+v\nwant %q", got, want)
	}
	idle.Params.HoldS = 180
	if got = judged(idle); got[0].Note != "measured at 19000 connections, hold 180 s" {
		t.Errorf("idle at its stated setting: %q", got[0].Note)
	}
	// Judging again replaces the targets rather than adding to them.
	if got = judged(idle); len(got) != 1 {
		t.Errorf("judged twice: %+v", got)
	}
}

func TestFailoverTarget(t *testing.T) {
	for _, tc := range []struct {
		lost, back float64
		hasBack    bool
		status     string
		value      string
	}{
		{0, 1.18, true, "met", "lost 0, back after 1.18 s"},
		{0, 5, true, "met", "lost 0, back after 5.00 s"},
		{0, 5.01, true, "missed", "lost 0, back after 5.01 s"},
		{3, 1, true, "missed", "lost 3, back after 1.00 s"},
		{0, 0, false, "missed", "lost 0, no reconnection seen"},
	} {
		s := heraldRun("failover", 2000, 30)
		s.add("lost", "", tc.lost, "")
		if tc.hasBack {
			s.add("back_s", "", tc.back, "s")
		}
		got := judged(s)
		if len(got) != 1 || got[0].Status != tc.status || got[0].Value != tc.value || got[0].Target != "failover: 0 lost, clients back within 5 s" {
			t.Errorf("%+v: %+v", tc, got)
		}
	}
}

// Redis memory is reported once, on the unicast run whose probe held the longest
// history; without a per-entry figure it is missed, and without any it is absent.
func TestRedisMemoryTarget(t *testing.T) {
	run := func(label string, perEntry float64, probe int64) *ScenarioResult {
		s := heraldRun("unicast", 2000, 10)
		s.Label = label
		s.Redis = &RedisStats{PerRecipientBytes: 4400, PerEntryBytes: perEntry, HistoryProbeEntries: probe, IngressEntryBytes: 130}
		return s
	}
	a, b, c := run("a", 150, 500), run("b", 160, 1400), run("c", 0, 0)
	cl := run("cluster", 170, 5000)
	cl.Name = "cluster"
	r := &Results{Scenarios: []*ScenarioResult{a, b, c, cl}}
	evaluateTargets(r)
	memTargets := func(s *ScenarioResult) (n int, last TargetCheck) {
		for _, t := range s.Targets {
			if strings.HasPrefix(t.Target, "Redis memory") {
				n, last = n+1, t
			}
		}
		return n, last
	}
	if n, tc := memTargets(b); n != 1 || tc.Status != "met" || !strings.Contains(tc.Value, "160 B per further history entry") {
		t.Errorf("b: %d %+v", n, tc)
	}
	for _, s := range []*ScenarioResult{a, c, cl} {
		if n, _ := memTargets(s); n != 0 {
			t.Errorf("%s also reports Redis memory", s.Label)
		}
	}
	r = &Results{Scenarios: []*ScenarioResult{run("x", 0, 0)}}
	evaluateTargets(r)
	if n, tc := memTargets(r.Scenarios[0]); n != 1 || tc.Status != "missed" || !strings.Contains(tc.Value, "per entry not seen") {
		t.Errorf("no probe: %+v", tc)
	}
	r = &Results{Scenarios: []*ScenarioResult{heraldRun("unicast", 2000, 10)}}
	evaluateTargets(r)
	if n, _ := memTargets(r.Scenarios[0]); n != 0 {
		t.Error("a Redis memory target without Redis figures")
	}
}

// A Herald run is set against the baseline run of the same mode, rate and clients.
func TestCompareToBaseline(t *testing.T) {
	mk := func(server, mode string, rate float64, clients int, v, p99 float64) *ScenarioResult {
		s := &ScenarioResult{Name: server, Label: server, Status: statusOK, Params: Params{Server: server, Mode: mode, Rate: rate, Clients: clients}, Latency: &Latency{P99: p99}}
		s.add("delivered_per_s", "", v, "")
		return s
	}
	base := mk(kindBaseline, modeUnicast, 0, 100, 80000, 1)
	failedBase := mk(kindBaseline, modeUnicast, 0, 100, 1, 1)
	failedBase.Status = statusFailed
	her := mk(kindHerald, modeUnicast, 0, 100, 40000, 9)
	otherRate := mk(kindHerald, modeUnicast, 2000, 100, 2000, 2)
	otherSize := mk(kindHerald, modeUnicast, 0, 50, 40000, 9)
	otherMode := mk(kindHerald, modeBroadcast, 0, 100, 40000, 9)
	r := &Results{Scenarios: []*ScenarioResult{base, her, otherRate, otherSize, otherMode, failedBase}}
	compareToBaseline(r)
	if v, _ := her.Figure("ratio_to_baseline"); v != 0.5 {
		t.Errorf("ratio %v, want 0.5", v)
	}
	if v, _ := her.Figure("baseline_p99_ms"); v != 1 {
		t.Errorf("baseline p99 %v", v)
	}
	for _, s := range []*ScenarioResult{otherRate, otherSize, otherMode, base} {
		if _, ok := s.Figure("ratio_to_baseline"); ok {
			t.Errorf("%s rate %v clients %d mode %s was compared", s.Params.Server, s.Params.Rate, s.Params.Clients, s.Params.Mode)
		}
	}
	if got := baselineFor(r, her); got != base {
		t.Errorf("baselineFor picked %+v", got)
	}
	// Idle runs compare memory per connection instead.
	idle := &ScenarioResult{Status: statusOK, Params: Params{Server: kindHerald, Mode: modeIdle, Clients: 10}}
	idle.add("rss_per_conn_bytes", "", 8000, "B")
	bidle := &ScenarioResult{Status: statusOK, Params: Params{Server: kindBaseline, Mode: modeIdle, Clients: 10}}
	bidle.add("rss_per_conn_bytes", "", 4000, "B")
	compareToBaseline(&Results{Scenarios: []*ScenarioResult{idle, bidle}})
	if v, _ := idle.Figure("rss_vs_baseline"); v != 2 {
		t.Errorf("idle vs baseline %v, want 2", v)
	}
	if _, ok := idle.Figure("ratio_to_baseline"); ok {
		t.Error("an idle run got a throughput ratio")
	}
}
