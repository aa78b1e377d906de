package bench

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// The bench's own redis-server: on a free port, with --redis-arg applied, gone
// after Kill.
func TestStartRedis(t *testing.T) {
	dir := t.TempDir()
	rp, err := startRedis(dir, []string{"--stream-node-max-bytes", "512"})
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: rp.Addr})
	defer rdb.Close()
	ctx := context.Background()
	if v, ok := configStreamNodeMaxBytes(ctx, rdb); !ok || v != 512 {
		t.Errorf("stream-node-max-bytes %d %v, want --redis-arg's 512", v, ok)
	}
	if rp.PID() <= 0 || !strings.Contains(tailFile(filepath.Join(dir, "redis.log"), 0, 100), "### herald bench: ") {
		t.Errorf("pid %d, log %q", rp.PID(), tailFile(filepath.Join(dir, "redis.log"), 0, 5))
	}
	rp.Kill()
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Error("redis answers after Kill")
	}
	var none *redisProc
	none.Kill() // a nil process: nothing to do
	(&redisProc{}).Kill()
	if _, err := startRedis(dir, []string{"--no-such-option", "1"}); err == nil || !strings.Contains(err.Error(), "exited during startup") {
		t.Errorf("a bad argument: %v", err)
	}
}

func TestRedisReadings(t *testing.T) {
	e := redisEnv(t)
	ctx := context.Background()
	kv, err := redisInfo(ctx, e.rdb, "server")
	if err != nil || kv["redis_version"] == "" || kv["# Server"] != "" {
		t.Errorf("INFO server: %v %v", kv["redis_version"], err)
	}
	before := redisCommandStats(ctx, e.rdb)
	for i := 0; i < 5; i++ {
		e.rdb.Set(ctx, "k", i, 0)
	}
	e.rdb.Get(ctx, "k")
	after := redisCommandStats(ctx, e.rdb)
	if after["set"].calls-before["set"].calls != 5 || after["set"].usec < before["set"].usec {
		t.Errorf("commandstats set: %+v -> %+v", before["set"], after["set"])
	}
	d := commandDelta(before, after)
	if len(d) < 2 || d[0].Usec < d[len(d)-1].Usec {
		t.Errorf("delta %+v", d)
	}
	if cpu, ok := redisCPU(ctx, e.rdb); !ok || cpu <= 0 {
		t.Errorf("CPU %v %v", cpu, ok)
	}
	if mem := redisUsedMemory(ctx, e.rdb); mem < 100000 {
		t.Errorf("used_memory %v", mem)
	}
	if used, err := usedMemory(ctx, e.rdb); err != nil || used < 100000 {
		t.Errorf("usedMemory %v %v", used, err)
	}
	// A Redis that is gone: no figure, no panic.
	gone := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1})
	defer gone.Close()
	if _, ok := redisCPU(ctx, gone); ok {
		t.Error("CPU from no Redis")
	}
	if redisUsedMemory(ctx, gone) != 0 || redisCommandStats(ctx, gone) != nil {
		t.Error("figures from no Redis")
	}
	if _, err := usedMemory(ctx, gone); err == nil || !strings.HasPrefix(err.Error(), "bench: info memory: ") {
		t.Errorf("usedMemory of no Redis: %v", err)
	}
	if _, ok := configStreamNodeMaxBytes(ctx, gone); ok {
		t.Error("a setting from no Redis")
	}
}

func TestCommandDelta(t *testing.T) {
	a := map[string]cmdStat{"xadd": {calls: 10, usec: 100}, "get": {calls: 5, usec: 5}}
	b := map[string]cmdStat{"xadd": {calls: 30, usec: 500}, "get": {calls: 5, usec: 5}, "evalsha": {calls: 2, usec: 600}}
	d := commandDelta(a, b)
	want := []CommandStat{{"evalsha", 2, 600, 300}, {"xadd", 20, 400, 20}}
	if fmt.Sprint(d) != fmt.Sprint(want) {
		t.Errorf("delta %+v, want %+v (busiest first, idle commands left out)", d, want)
	}
}

func TestTailFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("one\ntwo\nthree\nfour\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		off  int64
		n    int
		want string
	}{{0, 2, "three\nfour"}, {0, 10, "one\ntwo\nthree\nfour"}, {8, 10, "three\nfour"}, {100, 1, "four"}} {
		if got := tailFile(path, tc.off, tc.n); got != tc.want {
			t.Errorf("tailFile(%d, %d) = %q, want %q", tc.off, tc.n, got, tc.want)
		}
	}
	if got := tailFile(path+".none", 0, 1); !strings.HasPrefix(got, "(no log: ") {
		t.Errorf("missing log: %q", got)
	}
}

// The history sample: MEMORY USAGE and XLEN of about 200 users' streams.
func TestSampleHistoryAndRedisStats(t *testing.T) {
	e := redisEnv(t)
	ctx := context.Background()
	r := &runner{cfg: &Config{}}
	for i := 0; i < 1000; i += 5 {
		u := wire.User(userName("u", i))
		e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: e.keys.History(u), Values: []any{"data", strings.Repeat("x", 100)}})
		e.rdb.SAdd(ctx, e.keys.Presence(u), "n1")
	}
	h := r.sampleHistory(ctx, e, 1000)
	if len(h.keys) != 200 || h.keys[1] != e.keys.History(wire.User("u5")) || h.entries != 1 || h.bytes < 100 || h.presB <= 0 {
		t.Fatalf("sample: %d keys, %v entries, %v B, presence %v B", len(h.keys), h.entries, h.bytes, h.presB)
	}
	for _, k := range h.keys[:100] { // half the streams grow by 4 entries
		for j := 0; j < 4; j++ {
			e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: k, Values: []any{"data", strings.Repeat("x", 100)}})
		}
	}
	e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: e.keys.Ingress(0), Values: []any{"to", "u1", "data", "x"}})
	before := usage{redisCPU: 1, redisMem: 10, redisCmds: map[string]cmdStat{}}
	after := usage{redisCPU: 3.5, redisMem: 20, redisCmds: map[string]cmdStat{"xadd": {calls: 4, usec: 8}}}
	s := r.redisStats(ctx, e, h, before, after)
	if s.Addr != e.redisURL || s.Version == "" || s.StreamNodeMaxBytes == 0 || s.CPUSeconds != 2.5 || s.UsedMemoryStart != 10 || s.UsedMemoryEnd != 20 ||
		s.HistorySampled != 200 || s.PerRecipientBytes != h.bytes || s.PresenceBytes != h.presB || s.IngressEntryBytes <= 0 || len(s.Commands) != 1 {
		t.Errorf("stats %+v", s)
	}
	// Two entries more on average: the per-entry cost is the growth over them.
	endB, endL := memUsage(ctx, e, h.keys)
	if endL != 3 || !near(s.PerEntryBytes, (endB-h.bytes)/2, 1e-9) || !strings.HasPrefix(s.MemoryMethodComment, "MEMORY USAGE (exact) of 200 history streams: 1.0 entries") {
		t.Errorf("per entry %v (end %v B, %v entries): %s", s.PerEntryBytes, endB, endL, s.MemoryMethodComment)
	}
	if b, n := memUsage(ctx, e, nil); b != 0 || n != 0 {
		t.Error("memUsage of no key")
	}
	if b, n := memUsage(ctx, e, []string{"none:h"}); b != 0 || n != 0 {
		t.Error("memUsage of missing keys")
	}
	s = r.redisStats(ctx, e, historySample{}, usage{redisCPU: math.NaN()}, usage{redisCPU: 1})
	if s.CPUSeconds != 0 || s.HistorySampled != 0 || s.PerEntryBytes != 0 {
		t.Errorf("without a sample or CPU readings: %+v", s)
	}
}

// The probe fills the first user's history and measures it once the router has
// appended everything (here the history is already full when it looks).
func TestProbeFullHistory(t *testing.T) {
	e := redisEnv(t)
	ctx := context.Background()
	r := &runner{cfg: &Config{}}
	rs := newRedisSource(e, modeUnicast, 2, "", &Config{Payload: 60})
	key := e.keys.History(wire.User("u0"))
	for i := 0; i < 1500; i++ {
		e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []any{"data", "x"}})
	}
	s := &RedisStats{PerRecipientBytes: 1000, PerEntryBytes: 1, MemoryMethodComment: "m"}
	r.probeFullHistory(ctx, e, rs, s)
	m := e.rdb.MemoryUsage(ctx, key, 0).Val()
	if s.HistoryProbeEntries != 1500 || s.HistoryProbeBytes != float64(m) || !near(s.PerEntryBytes, (float64(m)-1000)/1499, 1e-12) ||
		!strings.HasPrefix(s.MemoryMethodComment, "m; one history filled to 1500 entries: ") {
		t.Errorf("probe %+v", s)
	}
	if n := e.rdb.XLen(ctx, e.keys.Ingress(0)).Val(); n != 1500 {
		t.Errorf("the probe published %d messages, want 1,500", n)
	}
	// Nothing routed: the probe gives up and changes nothing.
	empty := &RedisStats{PerRecipientBytes: 1000, PerEntryBytes: 7}
	rs.users[0] = "nobody"
	start := time.Now()
	r.probeFullHistory(ctx, e, rs, empty)
	if empty.PerEntryBytes != 7 || empty.HistoryProbeEntries != 0 || time.Since(start) > 5*time.Second {
		t.Errorf("probe of an unrouted history: %+v after %v", empty, time.Since(start))
	}
}

// The nodes' CPU: from /proc for started ones, from /metrics for given ones.
func TestUsageAndNodeStatsOfGivenNodes(t *testing.T) {
	e := redisEnv(t)
	metrics := metricsServer(t, http.StatusOK, "process_cpu_seconds_total 12.5\nprocess_resident_memory_bytes 5e7\ngo_goroutines 40\nherald_sessions 3\n")
	e.bases = []string{metrics, "http://127.0.0.1:1"}
	e.urls = []string{"ws://a", "ws://b"}
	e.procs = []*serverProc{nil, nil}
	r := &runner{cfg: &Config{}}
	u := r.usage(context.Background(), e, &clientPool{groups: []group{&localGroup{}}})
	if u.nodeCPU[0] != 12.5 || !math.IsNaN(u.nodeCPU[1]) || u.redisCPU <= 0 || u.redisMem <= 0 || len(u.redisCmds) == 0 || u.clientCPU <= 0 || !u.host.ok {
		t.Errorf("usage %+v", u)
	}
	nodes := r.nodeStats(context.Background(), e, usage{nodeCPU: []float64{10, 1}}, usage{nodeCPU: []float64{12.5, math.NaN()}})
	if len(nodes) != 2 || nodes[0].Name != "node 0" || nodes[0].CPUSeconds != 2.5 || nodes[0].RSSBytes != 5e7 ||
		nodes[0].RSSSource != "process_resident_memory_bytes" || nodes[0].Goroutines != 40 || nodes[0].Sessions != 3 {
		t.Errorf("node 0 %+v", nodes[0])
	}
	if nodes[1].MetricsError == "" || nodes[1].CPUSeconds != 0 {
		t.Errorf("an unreachable node %+v", nodes[1])
	}
	e.kind = kindBaseline
	if nodes := r.nodeStats(context.Background(), e, usage{}, usage{}); nodes[0].Name != "baseline" {
		t.Errorf("baseline server named %q", nodes[0].Name)
	}
}

func TestWaitStreamSettled(t *testing.T) {
	e := redisEnv(t)
	ctx := context.Background()
	go func() {
		for i := 0; i < 5; i++ {
			e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: "s", Values: []any{"a", 1}})
			time.Sleep(20 * time.Millisecond)
		}
	}()
	n, ok := waitStreamSettled(ctx, e.rdb, "s", 5*time.Second)
	if !ok || n != 5 {
		t.Errorf("settled at %d %v, want 5", n, ok)
	}
	if n, ok := waitStreamSettled(ctx, e.rdb, "s", 0); !ok || n != -1 {
		t.Errorf("no time to look: %d %v", n, ok)
	}
	e.rdb.Set(ctx, "str", "x", 0)
	if _, ok := waitStreamSettled(ctx, e.rdb, "str", time.Second); ok {
		t.Error("XLEN of a string settled")
	}
}
