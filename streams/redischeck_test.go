package streams_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
)

func gauge(t testing.TB, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func newCheck(e *env, rdb redis.UniversalClient, cfg streams.RedisCheckConfig) *streams.RedisCheck {
	if cfg.Node == "" {
		cfg.Node = "n1"
	}
	return streams.NewRedisCheck(rdb, e.keys, cfg, e.log, e.metrics)
}

// An evicting policy is refused at start with a message that names it, says why
// and how to fix it; redis.allow_eviction accepts it, and it stays a warning.
func TestRedisCheckRefusesAnEvictingPolicy(t *testing.T) {
	e := newEnvWith(t, redistest.Options{Args: []string{"--maxmemory-policy", "allkeys-lru"}})
	err := newCheck(e, e.rdb, streams.RedisCheckConfig{}).Verify(testCtx(t))
	if err == nil {
		t.Fatal("started under allkeys-lru")
	}
	for _, want := range []string{"allkeys-lru", "noeviction", "losing", "redis.allow_eviction", e.srv.Addr} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	c := newCheck(e, e.rdb, streams.RedisCheckConfig{AllowEviction: true})
	if err := c.Verify(testCtx(t)); err != nil {
		t.Fatalf("with allow_eviction: %v", err)
	}
	if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], "allkeys-lru") || !strings.Contains(w[0], "redis.allow_eviction") {
		t.Fatalf("warnings %q", w)
	}
	if g := gauge(t, e.metrics.EvictionUnsafe); g != 1 {
		t.Fatalf("herald_redis_eviction_unsafe %v, want 1", g)
	}
}

// A policy changed under a running node is logged, counted and listed in the
// warnings; set back, the warning goes.
func TestRedisCheckSeesAPolicyChangedUnderIt(t *testing.T) {
	e := newEnv(t)
	c := newCheck(e, e.rdb, streams.RedisCheckConfig{Every: 20 * time.Millisecond})
	if err := c.Verify(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Stop()
	if w := c.Warnings(); len(w) != 0 {
		t.Fatalf("warnings under noeviction: %q", w)
	}
	ctx := testCtx(t)
	if err := e.rdb.ConfigSet(ctx, "maxmemory-policy", "volatile-ttl").Err(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, waitLong, func() error {
		if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], "volatile-ttl") {
			return fmt.Errorf("warnings %q", w)
		}
		if n := counter(t, e.metrics.EvictionPolicyChanges); n != 1 {
			return fmt.Errorf("changes %v", n)
		}
		if g := gauge(t, e.metrics.EvictionUnsafe); g != 1 {
			return fmt.Errorf("unsafe %v", g)
		}
		return nil
	})
	if err := e.rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, waitLong, func() error {
		if w := c.Warnings(); len(w) != 0 {
			return fmt.Errorf("warnings %q", w)
		}
		if n := counter(t, e.metrics.EvictionPolicyChanges); n != 2 {
			return fmt.Errorf("changes %v", n)
		}
		return nil
	})
}

// A user that may not run one of Herald's commands is refused at start, with the
// command named; the probes leave no key behind.
func TestRedisCheckNamesADeniedCommand(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	rule := strings.Fields(streams.ACLRule("herald", "pw", "herald"))
	for _, r := range [][]string{rule, append(rule[:len(rule):len(rule)], "-xautoclaim")} {
		args := make([]any, len(r))
		for i, a := range r {
			args[i] = a
		}
		if err := e.rdb.Do(ctx, args...).Err(); err != nil {
			t.Fatal(err)
		}
		user := redis.NewClient(&redis.Options{Addr: e.srv.Addr, Username: "herald", Password: "pw", DisableIdentity: true})
		err := newCheck(e, user, streams.RedisCheckConfig{}).Verify(ctx)
		_ = user.Close()
		denied := r[len(r)-1] == "-xautoclaim"
		switch {
		case !denied && err != nil:
			t.Fatalf("under the documented rule: %v", err)
		case denied && (err == nil || !strings.Contains(err.Error(), "may not run xautoclaim")):
			t.Fatalf("without xautoclaim: %v", err)
		}
	}
	if keys := e.rdb.Keys(ctx, "*").Val(); len(keys) != 0 {
		t.Fatalf("the probes left %v", keys)
	}
	if log := e.rdb.Do(ctx, "acl", "log").Val(); fmt.Sprint(log) == "[]" {
		t.Fatal("no ACL denial logged: the probe did not reach the ACL")
	}
}

// A full Redis (noeviction, over maxmemory) makes MemoryReady fail; freed, it passes.
func TestRedisCheckMemoryReady(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	c := newCheck(e, e.rdb, streams.RedisCheckConfig{})
	if err := c.MemoryReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.Set(ctx, "x", "y", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "OOM") {
		t.Fatalf("write under maxmemory 1: %v", err)
	}
	if err := c.MemoryReady(ctx); !errors.Is(err, streams.ErrRedisFull) {
		t.Fatalf("MemoryReady %v", err)
	}
	if err := e.rdb.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.MemoryReady(ctx); err != nil {
		t.Fatal(err)
	}
}

// On Redis Cluster every master is checked: one evicting master is enough to be
// refused, and it is named.
func TestRedisCheckEveryClusterMaster(t *testing.T) {
	cl := redistest.StartCluster(t)
	cc := cl.Client(t)
	e := &env{keys: streams.NewKeys("herald", 1), metrics: streams.NewMetrics(prometheus.NewRegistry()), log: newEnv(t).log}
	ctx := testCtx(t)
	if err := newCheck(e, cc, streams.RedisCheckConfig{}).Verify(ctx); err != nil {
		t.Fatalf("healthy cluster: %v", err)
	}
	odd := cl.Nodes[2]
	if err := odd.Client(t).ConfigSet(ctx, "maxmemory-policy", "allkeys-random").Err(); err != nil {
		t.Fatal(err)
	}
	err := newCheck(e, cc, streams.RedisCheckConfig{}).Verify(ctx)
	if err == nil || !strings.Contains(err.Error(), odd.Addr) || !strings.Contains(err.Error(), "allkeys-random") {
		t.Fatalf("one evicting master: %v", err)
	}
	for _, n := range cl.Nodes[:2] {
		if strings.Contains(err.Error(), n.Addr) {
			t.Fatalf("names a safe master %s: %v", n.Addr, err)
		}
	}
	for _, n := range cl.Nodes { // the probes' key is on whichever master owns its slot
		if keys := n.Client(t).Keys(ctx, "*").Val(); len(keys) != 0 {
			t.Fatalf("the probes left %v on %s", keys, n.Addr)
		}
	}
}
