package bench

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testCurve: under 4096 a recipient costs 4,000 B up to 20 entries, then 8,000 B
// at 30 and 100,000 B full at 1,000; under 1024 1,000 B at 1, 2,000 at 10, 3,000
// at 20, 5,000 at 30, 110,000 full.
func testCurve() *NodeCurve {
	c := &NodeCurve{RedisVersion: "7.0.15", PayloadBytes: 100, HistorySize: 1000, Configured: 4096}
	for _, p := range []struct {
		v    int64
		k    int
		b    float64
		full bool
	}{
		{4096, 1, 4000, false}, {4096, 10, 4000, false}, {4096, 20, 4000, false}, {4096, 30, 8000, false}, {4096, 1000, 100000, true},
		{1024, 1, 1000, false}, {1024, 10, 2000, false}, {1024, 20, 3000, false}, {1024, 30, 5000, false}, {1024, 1000, 110000, true},
	} {
		c.Points = append(c.Points, CurvePoint{NodeMaxBytes: p.v, Entries: p.k, Recipients: 100, BytesPerRecipient: p.b, Full: p.full})
	}
	return c
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

func TestCurveInterpolatesEntriesAndValues(t *testing.T) {
	c := testCurve()
	for _, tc := range []struct {
		v     int64
		k     float64
		want  float64
		exact bool
	}{
		{4096, 1, 4000, true},
		{4096, 0.5, 4000, true}, // below the first point: the first point
		{4096, 25, 6000, true},  // halfway between 20 and 30
		{1024, 15, 2500, true},
		{1024, 515, 57500, true}, // halfway between 30 and the full point
		{1024, 5000, 110000, true},
		{2048, 1, 2000, false},  // a third of the way from 1024 to 4096
		{8192, 10, 4000, false}, // above the largest value measured: that value
		{128, 10, 2000, false},  // below the smallest: that value
	} {
		got, exact := c.At(tc.v, tc.k)
		if !near(got, tc.want, 1e-9) || exact != tc.exact {
			t.Errorf("At(%d, %v) = %v, %v; want %v, %v", tc.v, tc.k, got, exact, tc.want, tc.exact)
		}
	}
	if vs := c.Values(); len(vs) != 2 || vs[0] != 4096 || vs[1] != 1024 {
		t.Errorf("Values() = %v", vs)
	}
	if c.MaxEntries() != 1000 {
		t.Errorf("MaxEntries() = %d", c.MaxEntries())
	}
}

func TestPoissonCost(t *testing.T) {
	// A constant cost is that cost, for the share 1 - e^-mean that has a stream.
	per, share := poissonCost(0.5, 1000, func(float64) float64 { return 4000 })
	if !near(per, 4000, 1e-9) || !near(share, 1-math.Exp(-0.5), 1e-12) {
		t.Errorf("constant: %v, %v", per, share)
	}
	// Cost k: the mean count of those with at least one, mean / (1 - e^-mean).
	per, _ = poissonCost(2, 1000, func(k float64) float64 { return k })
	if want := 2 / (1 - math.Exp(-2)); !near(per, want, 1e-9) {
		t.Errorf("linear: %v, want %v", per, want)
	}
	// history.size caps what a stream holds: with a mean far above it, nearly all
	// recipients hold exactly size.
	per, _ = poissonCost(1728, 1000, func(k float64) float64 { return k })
	if !near(per, 1000, 1e-9) {
		t.Errorf("capped: %v", per)
	}
	// Large means do not underflow.
	per, share = poissonCost(1e6, 2e6, func(k float64) float64 { return k })
	if !near(per, 1e6, 1e-6) || share != 1 {
		t.Errorf("large mean: %v, %v", per, share)
	}
	if per, share := poissonCost(0, 10, func(float64) float64 { return 1 }); per != 0 || share != 0 {
		t.Errorf("no pushes: %v, %v", per, share)
	}
}

// planResults is a unicast run on a Redis with the given stream-node-max-bytes,
// and the curve.
func planResults(redisSetting int64, c *NodeCurve) *Results {
	res := &Results{Machine: Machine{Cores: 2, RAMBytes: 24 << 30, FDLimit: 20000}}
	uni := &ScenarioResult{Name: "unicast", Label: "unicast@max", Status: statusOK, Params: Params{Server: kindHerald, Mode: modeUnicast, Clients: 10000, Nodes: 1},
		Latency: &Latency{P99: 20}, Redis: &RedisStats{PerRecipientBytes: 4752, PerEntryBytes: 160, IngressEntryBytes: 130, PresenceBytes: 200, HistorySampled: 200, StreamNodeMaxBytes: redisSetting}}
	uni.add("delivered_per_s", "", 40000, "")
	uni.add("lost", "", 0, "")
	uni.add("redis_cpu_us_per_msg", "", 10, "µs")
	res.Scenarios = append(res.Scenarios, uni)
	if c != nil {
		res.Scenarios = append(res.Scenarios, &ScenarioResult{Name: "redis-memory", Label: "redis-memory", Status: statusOK, Curve: c})
	}
	return res
}

// The plan for a million users at ten pushes a day: each recipient holds ten
// entries on average, all within the first listpack node under 4096.
func TestPlanSizesHistoryFromTheCurve(t *testing.T) {
	in := planInput{users: 1_000_000, perUser: 1, rate: 1_000_000 * 10 / 86400.0, p99: 100, headroom: 0.7, active: 1,
		histSize: 1000, histTTL: 24 * time.Hour, ingressSecs: 10}
	p, err := makePlan(planResults(4096, testCurve()), in)
	if err != nil {
		t.Fatal(err)
	}
	mean := 10.0
	share := 1 - math.Exp(-mean)
	// Under 4096: 4,000 B up to 20 entries, 6,000 at 25; P(K > 20) is 0.16 %.
	if p.RedisStreamNodeMaxBytes != 4096 || !near(p.RedisBytesPerRecipient, 4000, 0.001) {
		t.Errorf("per recipient %v at %d, want about 4,000 at 4096", p.RedisBytesPerRecipient, p.RedisStreamNodeMaxBytes)
	}
	if !near(p.RedisHistoryRecipients, 1e6*share, 1e-9) || !near(p.RedisHistoryBytes, p.RedisHistoryRecipients*p.RedisBytesPerRecipient, 1e-12) {
		t.Errorf("history %v B over %v recipients", p.RedisHistoryBytes, p.RedisHistoryRecipients)
	}
	want := p.RedisHistoryBytes + in.rate*10*130 + 1e6*200
	if !near(p.RedisMemoryBytes, want, 1e-12) {
		t.Errorf("memory %v, want %v (history + ingress + presence)", p.RedisMemoryBytes, want)
	}
	// Under 1024 a recipient with ten entries costs 2,000 B: the plan says so.
	var alt *PlanAlternative
	for i, a := range p.RedisMemoryAlternatives {
		if a.Setting == "stream-node-max-bytes" && a.Value == "1024" {
			alt = &p.RedisMemoryAlternatives[i]
		}
	}
	if alt == nil || alt.SavedBytes < 0.4*p.RedisHistoryBytes || alt.SavedBytes > 0.6*p.RedisHistoryBytes {
		t.Errorf("1024 alternative: %+v of %v", alt, p.RedisHistoryBytes)
	}
	if !strings.Contains(p.RedisMemoryDetail, "stream-node-max-bytes 4096") {
		t.Errorf("detail does not name the setting: %s", p.RedisMemoryDetail)
	}
}

// Where the setting comes from: the flag, else the Redis the delivery run used,
// else the curve's Redis, else Redis's default.
func TestPlanTakesTheMeasuredSetting(t *testing.T) {
	in := planInput{users: 1000, perUser: 1, rate: 1, p99: 100, headroom: 0.7, active: 1, histSize: 1000, histTTL: time.Hour, ingressSecs: 10}
	for _, tc := range []struct {
		redis, curveConfigured, flag, want int64
		from                               string
	}{
		{1024, 4096, 0, 1024, "unicast@max"},
		{0, 1024, 0, 1024, "redis-memory measured"},
		{0, 0, 0, 4096, "default"},
		{1024, 1024, 2048, 2048, "--stream-node-max-bytes"},
	} {
		c := testCurve()
		c.Configured = tc.curveConfigured
		in.nodeMaxBytes = tc.flag
		p, err := makePlan(planResults(tc.redis, c), in)
		if err != nil {
			t.Fatal(err)
		}
		if p.RedisStreamNodeMaxBytes != tc.want || !strings.Contains(p.RedisMemoryDetail, tc.from) {
			t.Errorf("%+v: planned with %d: %s", tc, p.RedisStreamNodeMaxBytes, p.RedisMemoryDetail)
		}
	}
	// 2048 lies between the measured values: interpolated, and said.
	p, _ := makePlan(planResults(2048, testCurve()), in)
	if len(p.Warnings) == 0 || !strings.Contains(strings.Join(p.Warnings, "\n"), "2048 was not measured") {
		t.Errorf("no warning for an unmeasured value: %v", p.Warnings)
	}
}

// Without a curve the plan keeps the linear model of a delivery run and says so.
func TestPlanWithoutCurve(t *testing.T) {
	in := planInput{users: 1000, perUser: 1, rate: 1000.0 * 3 / 3600, p99: 100, headroom: 0.7, active: 1, histSize: 1000, histTTL: time.Hour, ingressSecs: 10}
	p, err := makePlan(planResults(4096, nil), in)
	if err != nil {
		t.Fatal(err)
	}
	// Mean 3 pushes: 4,752 B + (E[K | K >= 1] - 1) x 160 B.
	want := 4752 + (3/(1-math.Exp(-3))-1)*160
	if !near(p.RedisBytesPerRecipient, want, 1e-9) {
		t.Errorf("per recipient %v, want %v", p.RedisBytesPerRecipient, want)
	}
	if !strings.Contains(strings.Join(p.Warnings, "\n"), "no redis-memory run") {
		t.Errorf("warnings %v", p.Warnings)
	}
}

// Shorter TTLs hold fewer entries and fewer recipients; a history.size below
// what recipients hold caps them.
func TestPlanComparesHistorySettings(t *testing.T) {
	m := memModel{curve: testCurve(), value: 4096}
	h := historyLoad{users: 1000, active: 1, rate: 1000 * 100 / 86400.0, size: 1000, ttl: 24 * time.Hour}
	alts := m.alternatives(h, []time.Duration{time.Hour}, []int{20})
	if len(alts) != 3 {
		t.Fatalf("alternatives %+v", alts)
	}
	base, _, _ := m.history(h, 4096)
	for _, a := range alts {
		if !near(a.SavedBytes, base-a.HistoryBytes, 1e-12) || a.SavedBytes <= 0 {
			t.Errorf("%+v: saves nothing of %v", a, base)
		}
	}
	// history.size 20: every recipient (100 pushes a day) holds 20 entries, 4,000 B.
	if a := alts[2]; a.Setting != "history.size" || !near(a.HistoryBytes, 1000*4000, 1e-6) {
		t.Errorf("size 20: %+v", a)
	}
	ttls, sizes := defaultComparisons(24*time.Hour, 1000)
	if len(ttls) != 2 || ttls[0] != 12*time.Hour || ttls[1] != 6*time.Hour || len(sizes) != 2 || sizes[0] != 100 || sizes[1] != 10 {
		t.Errorf("default comparisons %v %v", ttls, sizes)
	}
	var in planInput
	if err := in.parseComparisons("1h,30m", ""); err != nil || len(in.compareTTL) != 2 || in.compareSize == nil || len(in.compareSize) != 0 {
		t.Errorf("parseComparisons: %v %v %v", err, in.compareTTL, in.compareSize)
	}
	if err := in.parseComparisons("soon", ""); err == nil {
		t.Error("a bad --compare-ttl was accepted")
	}
	if got := formatDur(90 * time.Minute); got != "1h30m" {
		t.Errorf("formatDur = %q", got)
	}
}

func TestCurveLookups(t *testing.T) {
	c := fixtureCurveRun().Curve
	if p, ok := c.point(1024, 20); !ok || p.BytesPerRecipient != 3000 {
		t.Errorf("point(1024, 20) = %+v %v", p, ok)
	}
	if _, ok := c.point(1024, 21); ok {
		t.Error("a point that was not measured")
	}
	if x, ok := c.cpuOf(4096, "xrange"); !ok || x.UsecPerCall != 102.4 {
		t.Errorf("cpuOf = %+v %v", x, ok)
	}
	if _, ok := c.cpuOf(512, "xrange"); ok {
		t.Error("CPU of a value not measured")
	}
	ops, labels := c.cpuOps()
	if !reflect.DeepEqual(ops, []string{"xadd", "xrange"}) || !reflect.DeepEqual(labels, []string{"history append", "replay page"}) {
		t.Errorf("ops %v %v", ops, labels)
	}
	var ks []string
	for _, p := range c.curveEntries() {
		ks = append(ks, entriesLabel(p))
	}
	if strings.Join(ks, " ") != "1 10 20 30 1000 (full)" {
		t.Errorf("entries %v", ks)
	}
	if (&NodeCurve{}).curveEntries() != nil || (&NodeCurve{}).MaxEntries() != 0 {
		t.Error("an empty curve has entries")
	}
	if b, exact := (&NodeCurve{}).At(4096, 1); b != 0 || exact {
		t.Error("an empty curve has a cost")
	}
	if rowAt(nil, 5) != 0 {
		t.Error("an empty row has a cost")
	}
	if got := c.describe(); got != "redis 7.0.15, 100-byte payloads, stream-node-max-bytes [4096 1024], history.size 1000" {
		t.Errorf("describe = %q", got)
	}
	if !strContains([]string{"a", "b"}, "b") || strContains(nil, "a") {
		t.Error("strContains")
	}
}

// The curve's terminal table: one column per value, one row per entry count,
// then the CPU rows.
func TestPrintCurve(t *testing.T) {
	var b bytes.Buffer
	printCurve(&b, fixtureCurveRun().Curve)
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	want := [][]string{
		{"Redis", "bytes", "per", "recipient:", "entries", "\\", "stream-node-max-bytes", "4096", "1024"},
		{"1", "4,000", "1,000"},
		{"10", "4,000", "2,000"},
		{"20", "4,000", "3,000"},
		{"30", "8,000", "5,000"},
		{"1000", "(full)", "100,000", "110,000"},
		{"µs/call,", "history", "append", "2", "(1.50-3)", "2", "(1.50-3)"},
		{"µs/call,", "replay", "page", "102", "(81.9-137)", "25.6", "(20.5-34.1)"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	for i, w := range want {
		if got := strings.Fields(lines[i]); !reflect.DeepEqual(got, w) {
			t.Errorf("line %d: %q, want %q", i, got, w)
		}
	}
}

func TestCurveHTMLAndCharts(t *testing.T) {
	var b strings.Builder
	c := fixtureCurveRun().Curve
	writeCurveHTML(&b, c)
	html := b.String()
	for _, want := range []string{
		"<table><tr><th>entries per recipient: Redis bytes per recipient</th><th>stream-node-max-bytes 4096</th><th>stream-node-max-bytes 1024</th></tr>",
		"<tr><td>1000 (full)</td><td class=n>100,000</td><td class=n>110,000</td></tr>",
		"<tr><td>replay page</td><td class=n>102 (81.9–137) / 120</td><td class=n>25.6 (20.5–34.1) / 120</td></tr>",
		"<p class=note>per value, its own redis-server.</p>",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("curve HTML lacks %q", want)
		}
	}
	c.CPU = nil
	b.Reset()
	writeCurveHTML(&b, c)
	if strings.Contains(b.String(), "µs per call") || strings.Contains(b.String(), "class=note") {
		t.Error("a CPU table without CPU figures")
	}
	charts := curveCharts(c)
	if len(charts) != 1 || charts[0].err != nil || len(charts[0].png) == 0 {
		t.Errorf("charts without CPU: %d, %v", len(charts), charts[0].err)
	}
	if charts := curveCharts(fixtureCurveRun().Curve); len(charts) != 2 || charts[1].err != nil {
		t.Errorf("charts with CPU: %d", len(charts))
	}
}
