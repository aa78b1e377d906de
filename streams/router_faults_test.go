package streams_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

// A Redis restart, with or without persistence, interrupts routing but does not
// end it: health reports the outage, then the router resumes. With persistence,
// what was acknowledged before is not routed again.
func TestRouterSurvivesRedisRestart(t *testing.T) {
	t.Parallel()
	for _, persistent := range []bool{true, false} {
		t.Run(fmt.Sprint("appendonly=", persistent), func(t *testing.T) {
			t.Parallel()
			e := newEnvWith(t, redistest.Options{AppendOnly: persistent})
			e.withoutRetries(t)
			ctx := testCtx(t)
			if persistent { // so that SIGKILL loses nothing
				if err := e.rdb.ConfigSet(ctx, "appendfsync", "always").Err(); err != nil {
					t.Fatal(err)
				}
			}
			setPresence(t, e, wire.User("alice"), "self")
			sink := &fakeSink{}
			e.startRouter(t, routerConfig("self"), sink)
			first := xadd(t, e.rdb, ingress, "to", "alice", "data", `"before"`)
			waitGroupDone(t, e.rdb, ingress, "router", first)
			testkit.Eventually(t, waitLong, e.health.Ready)

			e.srv.Kill()
			testkit.Eventually(t, waitLong, func() error {
				if e.health.Ready() == nil {
					return fmt.Errorf("healthy while Redis is down")
				}
				return nil
			})
			e.srv.Restart(t)
			if !persistent {
				setPresence(t, e, wire.User("alice"), "self")
			}
			after := xadd(t, e.rdb, ingress, "to", "alice", "data", `"after"`)
			waitGroupDone(t, e.rdb, ingress, "router", after)
			testkit.Eventually(t, waitLong, e.health.Ready)
			got := sink.pushes()
			if !persistent {
				// Redis lost the lease too: the router takes it again as if from
				// another holder and routes what it had not acknowledged yet once
				// more, a duplicate with the same id (docs/PROTOCOL.md section 2).
				got = distinctByID(got)
			}
			if data := dataOf(got); !reflect.DeepEqual(data, []string{`"before"`, `"after"`}) {
				t.Fatalf("delivered %v, want before, after", data)
			}
			if persistent {
				if n := e.rdb.XLen(ctx, "herald:{u:alice}:h").Val(); n != 2 {
					t.Fatalf("history holds %d entries, want 2", n)
				}
			}
		})
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	if err := streams.NewHealth().Ready(); err == nil {
		t.Fatal("a new Health is ready before any loop reported")
	}
}

// An entry whose history append keeps failing (here: the history key holds a
// string, so XADD fails with WRONGTYPE) is retried, then dead-lettered after
// max_deliveries; it does not stall the entries around it.
func TestRouterPoisonHistoryKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	if err := e.rdb.Set(ctx, "herald:{u:mallory}:h", "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	setPresence(t, e, wire.User("alice"), "self")
	xadd(t, e.rdb, ingress, "to", "alice", "data", `"a1"`)
	poison := xadd(t, e.rdb, ingress, "to", "mallory", "data", `"m"`)
	xadd(t, e.rdb, ingress, "to", "alice", "data", `"a2"`)
	sink := &fakeSink{}
	e.startRouter(t, routerConfig("self"), sink)
	last := xadd(t, e.rdb, ingress, "to", "alice", "data", `"a3"`)
	waitGroupDone(t, e.rdb, ingress, "router", last)

	if got := dataOf(sink.pushes()); !reflect.DeepEqual(got, []string{`"a1"`, `"a2"`, `"a3"`}) {
		t.Fatalf("delivered %v, want a1 a2 a3 once each", got)
	}
	dlq := xrange(t, e.rdb, "herald:dlq")
	if len(dlq) != 1 || dlq[0].Values["id"] != poison || dlq[0].Values["reason"] != "max deliveries exceeded" {
		t.Fatalf("DLQ %v, want the poison entry once", dlq)
	}
	if n := counter(t, e.metrics.RedisErrors.WithLabelValues("history")); n < 1 {
		t.Fatalf("history errors = %v", n)
	}
}

// An invalid entry is dead-lettered once, even when its batch is retried because
// another entry's history append failed.
func TestRouterDeadLetterOnceWhenBatchRetried(t *testing.T) {
	t.Parallel()

	e := newEnv(t)
	ctx := testCtx(t)
	if err := e.rdb.Set(ctx, "herald:{u:mallory}:h", "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	xadd(t, e.rdb, ingress, "to", "mallory", "data", `"m"`)
	bad := xadd(t, e.rdb, ingress, "to", "alice") // no data
	e.startRouter(t, routerConfig("self"), &fakeSink{})
	waitGroupDone(t, e.rdb, ingress, "router", bad)
	n := 0
	for _, m := range xrange(t, e.rdb, "herald:dlq") {
		if m.Values["id"] == bad {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the invalid entry is %d times in the DLQ, want once", n)
	}
}

// A router stopped while routing hands off the batches it has in flight before it
// lets go of its lease: nothing it read stays pending for a successor to reclaim
// only after streams.claim_idle.
func TestRouterStopFinishesTheBatchesInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	setPresence(t, e, wire.User("alice"), "self")
	pipe := e.rdb.Pipeline()
	for i := 0; i < 3000; i++ {
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: ingress, Values: []any{"to", "alice", "data", fmt.Sprint(i)}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := routerConfig("self")
	cfg.ClaimIdle = time.Hour // no reclaim pass, which also finishes the batches in flight
	sink := &fakeSink{}
	stop := e.startRouter(t, cfg, sink)
	sink.waitPushes(t, 100)
	stop()
	if n := pendingCount(t, e.rdb, ingress, "router"); n != 0 {
		t.Fatalf("%d entries read but left pending by a stopped router", n)
	}
	got := sink.pushes()
	for i, p := range got {
		if string(p.Data) != fmt.Sprint(i) {
			t.Fatalf("push %d is %s", i, p.Data)
		}
	}
	groups, err := e.rdb.XInfoGroups(ctx, ingress).Result()
	if err != nil || len(groups) != 1 {
		t.Fatalf("groups %v, %v", groups, err)
	}
	if read := groups[0].EntriesRead; read != int64(len(got)) {
		t.Fatalf("the router read %d entries and delivered %d", read, len(got))
	}
}

// The history's TTL is set on a recipient's first push and not again on every push
// (a PEXPIRE per push was a tenth of the Redis commands of a push).
func TestRouterSetsHistoryTTLOnceNotPerPush(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	var last string
	for i := 0; i < 50; i++ {
		last = xadd(t, e.rdb, ingress, "to", "alice", "data", fmt.Sprint(i))
	}
	xadd(t, e.rdb, ingress, "to", "bob", "data", "1")
	last = xadd(t, e.rdb, ingress, "to", "bob", "data", "2")
	e.startRouter(t, routerConfig("self"), &fakeSink{})
	waitGroupDone(t, e.rdb, ingress, "router", last)
	for _, u := range []string{"alice", "bob"} {
		key := e.keys.History(wire.User(u))
		if ttl := e.rdb.PTTL(ctx, key).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("%s PTTL %v, want history.ttl (1h)", key, ttl)
		}
	}
	stats := e.rdb.Info(ctx, "commandstats").Val()
	if !strings.Contains(stats, "cmdstat_pexpire:calls=2,") {
		t.Fatalf("want 2 PEXPIREs for 2 recipients and 52 pushes; commandstats:\n%s", stats)
	}
}
