package bench

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Without any memory figure the model says where its defaults come from.
func TestMemModelDefaults(t *testing.T) {
	m := memModelOf(&Results{}, 0)
	if m.curve != nil || m.perRecipient != 4700 || m.perEntry != 230 || m.ingress != 153 || m.presence != 0 ||
		m.value != redisDefaultNodeBytes || !strings.Contains(m.src, "not measured") || !strings.Contains(m.valueSrc, "Redis's default") {
		t.Errorf("defaults %+v", m)
	}
}

// The delivery run whose probe held the longest history gives the linear figures;
// a curve counts only from a successful run with points.
func TestMemModelPicksTheRuns(t *testing.T) {
	run := func(label string, probe int64, perEntry float64) *ScenarioResult {
		return &ScenarioResult{Label: label, Status: statusOK, Redis: &RedisStats{PerRecipientBytes: 1000 + float64(probe), PerEntryBytes: perEntry,
			IngressEntryBytes: 120, PresenceBytes: 190, HistoryProbeEntries: probe, StreamNodeMaxBytes: 2048}}
	}
	failedCurve := &ScenarioResult{Label: "failed curve", Status: statusFailed, Curve: testCurve()}
	emptyCurve := &ScenarioResult{Label: "empty curve", Status: statusOK, Curve: &NodeCurve{Configured: 512}}
	noRedis := &ScenarioResult{Label: "no redis", Status: statusOK}
	res := &Results{Scenarios: []*ScenarioResult{run("short", 10, 0), run("long", 1500, 140), noRedis, failedCurve, emptyCurve}}
	m := memModelOf(res, 0)
	if m.src != "long" || m.perRecipient != 2500 || m.perEntry != 140 || m.ingress != 120 || m.presence != 190 {
		t.Errorf("linear figures from %q: %+v", m.src, m)
	}
	if m.curve != nil {
		t.Error("a failed or empty curve was used")
	}
	if m.value != 2048 || !strings.Contains(m.valueSrc, "the Redis long ran on") {
		t.Errorf("value %d from %q", m.value, m.valueSrc)
	}
	// A run without a per-entry figure keeps the default one.
	m = memModelOf(&Results{Scenarios: []*ScenarioResult{run("only", 0, 0)}}, 0)
	if m.perEntry != 230 || m.perRecipient != 1000 {
		t.Errorf("no per-entry figure: %+v", m)
	}
}

// Past the curve's history.size point each entry costs the last segment's slope;
// without a curve the cost is linear.
func TestMemModelCost(t *testing.T) {
	lin := memModel{perRecipient: 4000, perEntry: 100}
	if got := lin.cost(4096, 1); got != 4000 {
		t.Errorf("linear, 1 entry: %v", got)
	}
	if got := lin.cost(4096, 11); got != 5000 {
		t.Errorf("linear, 11 entries: %v", got)
	}
	m := memModel{curve: testCurve()}
	if got := m.cost(1024, 10); got != 2000 {
		t.Errorf("curve at 10: %v", got)
	}
	// 1024: 5,000 B at 30 and 110,000 at 1,000, so 105,000 / 970 B per entry on.
	if got, want := m.cost(1024, 1970), 110000+970*(105000.0/970); !near(got, want, 1e-12) {
		t.Errorf("past the full point: %v, want %v", got, want)
	}
	// Between measured values the slope is the nearest value's.
	if got, want := m.cost(3000, 2000), func() float64 { at, _ := m.curve.At(3000, 1000); return at + 1000*(92000.0/970) }(); !near(got, want, 1e-12) {
		t.Errorf("3000 past the full point: %v, want %v", got, want)
	}
	one := memModel{curve: &NodeCurve{Points: []CurvePoint{{NodeMaxBytes: 4096, Entries: 5, BytesPerRecipient: 4500}}}}
	if got := one.cost(4096, 50); got != 4500 {
		t.Errorf("a one-point curve: %v", got)
	}
}

func TestNearestValue(t *testing.T) {
	c := testCurve() // 4096 and 1024
	for v, want := range map[int64]int64{4096: 4096, 5000: 4096, 2600: 4096, 2500: 1024, 1: 1024} {
		if got := nearestValue(c, v); got != want {
			t.Errorf("nearestValue(%d) = %d, want %d", v, got, want)
		}
	}
}

func TestHistoryLoad(t *testing.T) {
	h := historyLoad{users: 1000, active: 0.5, rate: 10, size: 1000, ttl: time.Hour}
	if got := h.mean(); got != 72 { // 10/s x 3,600 s over 500 active users
		t.Errorf("mean %v, want 72", got)
	}
	h.active = 0
	if h.mean() != 0 {
		t.Error("no active user, yet pushes")
	}
	m := memModel{perRecipient: 1000, perEntry: 0}
	h = historyLoad{users: 1000, active: 1, rate: 1000.0 / 3600, size: 1000, ttl: time.Hour}
	bytes, recipients, per := m.history(h, 4096)
	share := 1 - math.Exp(-1)
	if !near(recipients, 1000*share, 1e-12) || !near(per, 1000, 1e-12) || !near(bytes, 1000*share*1000, 1e-12) {
		t.Errorf("history %v B, %v recipients, %v B each", bytes, recipients, per)
	}
}

func TestDefaultComparisons(t *testing.T) {
	for _, tc := range []struct {
		ttl   time.Duration
		size  int
		ttls  []time.Duration
		sizes []int
	}{
		{24 * time.Hour, 1000, []time.Duration{12 * time.Hour, 6 * time.Hour}, []int{100, 10}},
		{2 * time.Minute, 50, []time.Duration{time.Minute}, []int{5}}, // 30 s is too short to compare
		{time.Minute, 10, nil, []int{1}},
		{time.Hour, 5, []time.Duration{30 * time.Minute, 15 * time.Minute}, nil},
	} {
		ttls, sizes := defaultComparisons(tc.ttl, tc.size)
		if !reflect.DeepEqual(ttls, tc.ttls) || !reflect.DeepEqual(sizes, tc.sizes) {
			t.Errorf("defaultComparisons(%v, %d) = %v %v, want %v %v", tc.ttl, tc.size, ttls, sizes, tc.ttls, tc.sizes)
		}
	}
}

func TestFormatDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		24 * time.Hour: "24h", 90 * time.Minute: "1h30m", 30 * time.Minute: "30m", 45 * time.Second: "45s",
		time.Hour + 30*time.Second: "1h0m30s", 1500 * time.Millisecond: "1.5s",
	} {
		if got := formatDur(d); got != want {
			t.Errorf("formatDur(%v) = %q, want %q", d, got, want)
		}
	}
}

// Naming one kind of comparison compares with it only; naming none keeps the defaults.
func TestParseComparisons(t *testing.T) {
	var in planInput
	if err := in.parseComparisons("", ""); err != nil || in.compareTTL != nil || in.compareSize != nil {
		t.Errorf("none: %v %v %v", err, in.compareTTL, in.compareSize)
	}
	in = planInput{}
	if err := in.parseComparisons("", "10, 100"); err != nil || in.compareTTL == nil || len(in.compareTTL) != 0 || !reflect.DeepEqual(in.compareSize, []int{10, 100}) {
		t.Errorf("sizes only: %v %v %v", err, in.compareTTL, in.compareSize)
	}
	for _, bad := range [][2]string{{"0s", ""}, {"-1h", ""}, {"", "x"}, {"", "-5"}} {
		in = planInput{}
		if err := in.parseComparisons(bad[0], bad[1]); err == nil {
			t.Errorf("parseComparisons(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

func TestPrintAlternatives(t *testing.T) {
	var b bytes.Buffer
	printAlternatives(&b, &Plan{})
	if b.Len() != 0 {
		t.Errorf("alternatives printed without any: %q", b.String())
	}
	p := &Plan{RedisHistoryBytes: 4 << 30, RedisStreamNodeMaxBytes: 4096, RedisBytesPerRecipient: 4400.4, RedisMemoryAlternatives: []PlanAlternative{
		{Setting: "stream-node-max-bytes", Value: "1024", HistoryBytes: 1 << 30, SavedBytes: 3 << 30},
		{Setting: "history.size", Value: "10", HistoryBytes: 5 << 30, SavedBytes: -1 << 30},
	}}
	printAlternatives(&b, p)
	want := "  history under other settings (now 4.00 GiB at stream-node-max-bytes 4096, 4,400 B per recipient):\n" +
		"    stream-node-max-bytes  1024      1.00 GiB: saves 3.00 GiB (75%)\n" +
		"    history.size           10        5.00 GiB: costs 1.00 GiB (25%)\n"
	if b.String() != want {
		t.Errorf("alternatives:\n%q\nwant\n%q", b.String(), want)
	}
}

// The memory detail names every part of the sum and where its figures come from.
func TestPlanRedisMemoryDetail(t *testing.T) {
	in := planInput{users: 1000, perUser: 1, rate: 10, p99: 100, headroom: 0.5, active: 0.5, histSize: 1000, histTTL: time.Hour, ingressSecs: 10, nodeMaxBytes: 2048}
	p := &Plan{}
	planRedisMemory(planResults(0, testCurve()), in, p)
	want := p.RedisHistoryBytes + 10*10*130 + 1000*200
	if !near(p.RedisMemoryBytes, want, 1e-12) || p.RedisStreamNodeMaxBytes != 2048 {
		t.Errorf("memory %v, want %v, at %d", p.RedisMemoryBytes, want, p.RedisStreamNodeMaxBytes)
	}
	for _, s := range []string{"of 1,000 users, 50% active, 72.0 pushes each within history.ttl 1h on average, at most history.size 1000",
		"under stream-node-max-bytes 2048 (--stream-node-max-bytes; measured curve of redis-memory", "2048 was not measured: interpolated",
		"herald:in 100 entries x 130 B", "presence 1,000 users x 200 B"} {
		if !strings.Contains(p.RedisMemoryDetail, s) {
			t.Errorf("detail lacks %q:\n%s", s, p.RedisMemoryDetail)
		}
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "2048 was not measured; memory interpolated from the curve's values [4096 1024]") {
		t.Errorf("warnings %q", p.Warnings)
	}
	// 4096 and 1024 are compared, less the value planned with: both, then TTLs and sizes.
	var settings []string
	for _, a := range p.RedisMemoryAlternatives {
		settings = append(settings, a.Setting+"="+a.Value)
	}
	if got := strings.Join(settings, " "); got != "stream-node-max-bytes=4096 stream-node-max-bytes=1024 history.ttl=30m history.ttl=15m history.size=100 history.size=10" {
		t.Errorf("alternatives %s", got)
	}
}
