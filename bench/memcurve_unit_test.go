package bench

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

// memRunOn is a memRun of value v on a throw-away redis-server the test owns (own
// is nil: the run treats it as --redis and does not change its configuration).
func memRunOn(t *testing.T, v int64, size int) *memRun {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{Args: []string{"--stream-node-max-bytes", "4096"}})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return &memRun{rdb: rdb, value: v, keys: streams.NewKeys("herald", 1), payload: 100, size: size}
}

// The router's history append: exact MAXLEN history.size, fields id, data, ts.
func TestMemRunXAdd(t *testing.T) {
	m := &memRun{size: 1000, payload: 100}
	a := m.xadd("k")
	b := m.xadd("k")
	if len(a) != 11 || a[0] != "xadd" || a[1] != "k" || a[2] != "maxlen" || a[3] != 1000 || a[4] != "*" || a[5] != "id" || a[7] != "data" || a[9] != "ts" {
		t.Fatalf("xadd args %v", a)
	}
	if a[6] == b[6] || a[8] == b[8] || m.seq != 2 {
		t.Errorf("two appends share an id or a payload: %v / %v", a[6], b[6])
	}
	if p, ok := parsePayload([]byte(a[8].(string))); !ok || p.N != 1 || len(a[8].(string)) != 100 {
		t.Errorf("payload %v", a[8])
	}
	if names := (&memRun{keys: streams.NewKeys("hx", 1)}).names("r", 3); !reflect.DeepEqual(names, []string{
		streams.NewKeys("hx", 1).History(wire.User("r0")), streams.NewKeys("hx", 1).History(wire.User("r1")), streams.NewKeys("hx", 1).History(wire.User("r2"))}) {
		t.Errorf("names %v", names)
	}
}

func TestFullRecipients(t *testing.T) {
	for _, tc := range []struct{ n, size, want int }{
		{10000, 1000, 500}, {10000, 100, 5000}, {200, 100, 200}, {10000, 100000, 100}, {50, 1000, 100}, {10000, 0, 10000},
	} {
		if got := fullRecipients(tc.n, tc.size); got != tc.want {
			t.Errorf("fullRecipients(%d, %d) = %d, want %d", tc.n, tc.size, got, tc.want)
		}
	}
}

// The curve of a Redis as it is configured: points at each entry count and the
// full point, growing with the entries; the keys deleted after.
func TestMeasureMemory(t *testing.T) {
	m := memRunOn(t, 0, 30)
	ctx := context.Background()
	c := &NodeCurve{}
	if err := m.configure(ctx, c); err != nil {
		t.Fatal(err)
	}
	if m.value != 4096 || c.Configured != 4096 || c.RedisVersion == "" {
		t.Fatalf("configured %d, curve %+v", m.value, c)
	}
	if err := m.measureMemory(ctx, c, 50, []int{1, 2, 10}); err != nil {
		t.Fatal(err)
	}
	if len(c.Points) != 4 || len(m.recips) != 50 || len(m.full) != 100 {
		t.Fatalf("points %+v, %d recipients, %d full", c.Points, len(m.recips), len(m.full))
	}
	for i, p := range c.Points {
		if p.NodeMaxBytes != 4096 || p.BytesPerRecipient <= 0 || (i > 0 && !p.Full && p.BytesPerRecipient < c.Points[i-1].BytesPerRecipient*0.9) {
			t.Errorf("point %+v", p)
		}
	}
	full := c.Points[3]
	if !full.Full || full.Entries != 30 || full.Recipients != 100 {
		t.Errorf("full point %+v", full)
	}
	// A recipient's first entry costs a whole 4 KB listpack node.
	if first := c.Points[0].BytesPerRecipient; first < 4096 || first > 8000 { // with 50 streams, the key space's own growth shows
		t.Errorf("one entry under 4096: %v B", first)
	}
	if n := m.rdb.XLen(ctx, m.full[99]).Val(); n != 30 {
		t.Errorf("a full history holds %d entries, want history.size 30", n)
	}
	if ttl := m.rdb.PTTL(ctx, m.recips[0]).Val(); ttl < 23*time.Hour {
		t.Errorf("history TTL %v", ttl)
	}
	m.stop()
	check := redis.NewClient(&redis.Options{Addr: m.rdb.Options().Addr})
	defer check.Close()
	if n := check.DBSize(ctx).Val(); n != 0 {
		t.Errorf("%d keys left on a Redis the bench did not start", n)
	}
}

// On its own Redis the bench sets the value; an existing Redis that refuses
// CONFIG cannot be measured.
func TestMemRunConfigure(t *testing.T) {
	m := memRunOn(t, 512, 10)
	m.own = &redisProc{} // as if the bench had started it
	ctx := context.Background()
	c := &NodeCurve{RedisVersion: "set before"}
	if err := m.configure(ctx, c); err != nil {
		t.Fatal(err)
	}
	if v, _ := configStreamNodeMaxBytes(ctx, m.rdb); v != 512 || m.value != 512 || c.RedisVersion != "set before" || c.Configured != 0 {
		t.Errorf("value %d, run %d, curve %+v", v, m.value, c)
	}
	gone := &memRun{rdb: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1})}
	defer gone.rdb.Close()
	if err := gone.configure(ctx, c); err == nil || !strings.HasPrefix(err.Error(), "bench: redis 127.0.0.1:1: ") {
		t.Errorf("no Redis: %v", err)
	}
	srv := redistest.Start(t, redistest.Options{Args: []string{"--rename-command", "CONFIG", ""}})
	noConfig := &memRun{rdb: srv.Client(t)}
	if err := noConfig.configure(ctx, &NodeCurve{}); err == nil || !strings.Contains(err.Error(), "refuses CONFIG GET") {
		t.Errorf("CONFIG renamed away: %v", err)
	}
}

// Each pass counts its command's calls and time; a run of all of them adds one
// figure to each result and removes the scratch streams.
func TestCPURuns(t *testing.T) {
	a := memRunOn(t, 4096, 20)
	b := memRunOn(t, 1024, 20)
	ctx := context.Background()
	for _, m := range []*memRun{a, b} {
		if err := m.measureMemory(ctx, &NodeCurve{}, 20, []int{1, 5}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := cpuRuns(ctx, []*memRun{a, b}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 10 {
		t.Fatalf("%d results, want 5 commands x 2 values", len(out))
	}
	for i, c := range out {
		wantValue := int64(4096)
		if i >= 5 {
			wantValue = 1024
		}
		if c.NodeMaxBytes != wantValue || len(c.Runs) != 3 || c.UsecPerCall <= 0 || c.MinUsec > c.UsecPerCall || c.MaxUsec < c.UsecPerCall || c.Label == "" {
			t.Errorf("result %d: %+v", i, c)
		}
	}
	wantCalls := map[string]int64{"xadd": 20 * 50, "xadd_trim": 100 * 20, "pexpire": 20, "xrange": 20, "xrevrange": 20}
	for _, c := range out[:5] {
		if c.Calls != wantCalls[c.Op] {
			t.Errorf("%s: %d calls per run, want %d", c.Op, c.Calls, wantCalls[c.Op])
		}
	}
	if n := a.rdb.Exists(ctx, a.names("s", 20)...).Val(); n != 0 {
		t.Errorf("%d scratch streams left", n)
	}
	if _, _, err := a.runPass(ctx, cpuPass{cmd: "get", keys: []string{"x"}, per: 1, args: func(k string) []any { return []any{"set", k, 1} }}); err == nil ||
		!strings.Contains(err.Error(), "counted no GET calls") {
		t.Errorf("a pass that sent other commands: %v", err)
	}
}

func TestSummarizeCPU(t *testing.T) {
	c := CurveCPU{Runs: []float64{3, 1, 2, 10}, CPURuns: []float64{5, math.NaN(), 7}}
	summarizeCPU(&c)
	if c.UsecPerCall != 2.5 || c.MinUsec != 1 || c.MaxUsec != 10 || c.CPUPerCall != 6 || !reflect.DeepEqual(c.CPURuns, []float64{5, 7}) {
		t.Errorf("summary %+v", c)
	}
	empty := CurveCPU{}
	summarizeCPU(&empty)
	if !reflect.DeepEqual(empty, CurveCPU{}) {
		t.Errorf("no runs: %+v", empty)
	}
}

// The headline figures: 1 and 10 entries and the full history, per value.
func TestAddCurveFigures(t *testing.T) {
	sr := &ScenarioResult{}
	addCurveFigures(sr, testCurve(), 1024)
	var got []string
	for _, f := range sr.Figures {
		got = append(got, f.Key+"="+fmtNum(f.Value)+" "+f.Label)
	}
	want := []string{
		"bytes_per_recipient_1_at_1024=1,000 Redis per recipient, 1 entry, stream-node-max-bytes 1024",
		"bytes_per_recipient_10_at_1024=2,000 Redis per recipient, 10 entries, stream-node-max-bytes 1024",
		"bytes_per_recipient_1000_at_1024=110,000 Redis per recipient, history.size 1000, full, stream-node-max-bytes 1024",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("figures\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestExecAll(t *testing.T) {
	e := redisEnv(t)
	ctx := context.Background()
	pipe := e.rdb.Pipeline()
	if err := execAll(ctx, pipe); err != nil {
		t.Errorf("an empty pipeline: %v", err)
	}
	pipe.Get(ctx, "missing") // redis.Nil is no error here
	pipe.Set(ctx, "k", 1, 0)
	if err := execAll(ctx, pipe); err != nil {
		t.Errorf("a nil reply: %v", err)
	}
	pipe.Set(ctx, "s", "x", 0)
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: "s", Values: []any{"a", 1}})
	if err := execAll(ctx, pipe); err == nil || !strings.HasPrefix(err.Error(), "bench: xadd: WRONGTYPE") {
		t.Errorf("a failing command: %v", err)
	}
}
