package streams_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/wire"
)

// Entries a dead router read and never acknowledged are taken over after claim_idle.
func TestRouterReclaimsFromDeadConsumer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	if err := e.rdb.XGroupCreateMkStream(ctx, ingress, "router", "0").Err(); err != nil {
		t.Fatal(err)
	}
	setPresence(t, e, wire.User("alice"), "self")
	var last string
	for i := 1; i <= 3; i++ {
		last = xadd(t, e.rdb, ingress, "to", "alice", "data", fmt.Sprint(i))
	}
	// The ghost reads them and dies.
	res, err := e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "router", Consumer: "ghost", Streams: []string{ingress, ">"}, Count: 10}).Result()
	if err != nil || len(res[0].Messages) != 3 {
		t.Fatalf("ghost read %v, %v", res, err)
	}
	cfg := routerConfig("self")
	sink := &fakeSink{}
	e.startRouter(t, cfg, sink)
	got := sink.waitPushes(t, 3)
	if d := dataOf(got); !reflect.DeepEqual(d, []string{"1", "2", "3"}) {
		t.Fatalf("delivered %v, want 1 2 3", d)
	}
	waitGroupDone(t, e.rdb, ingress, "router", last)
	if n := counter(t, e.metrics.Reclaimed); n != 3 {
		t.Errorf("Reclaimed = %v, want 3", n)
	}
	if n := e.rdb.XLen(ctx, "herald:{u:alice}:h").Val(); n != 3 {
		t.Errorf("history holds %d, want 3", n)
	}
}

// An entry delivered more than max_deliveries times goes to the dead-letter stream
// instead of being routed again; one at the bound is still routed.
func TestRouterMaxDeliveries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		extraClaims int // XCLAIMs by the test after the ghost's read
		wantDead    bool
	}{
		// Ghost read = 1, each XCLAIM +1, the router's own claim +1; MaxDeliveries = 3.
		{"at the bound", 1, false},
		{"over the bound", 2, true},
		{"far over the bound", 6, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := testCtx(t)
			if err := e.rdb.XGroupCreateMkStream(ctx, ingress, "router", "0").Err(); err != nil {
				t.Fatal(err)
			}
			setPresence(t, e, wire.User("alice"), "self")
			poison := xadd(t, e.rdb, ingress, "to", "alice", "data", `"poison"`)
			if err := e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "router", Consumer: "ghost", Streams: []string{ingress, ">"}}).Err(); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < tt.extraClaims; i++ {
				if err := e.rdb.XClaim(ctx, &redis.XClaimArgs{Stream: ingress, Group: "router", Consumer: "ghost", Messages: []string{poison}}).Err(); err != nil {
					t.Fatal(err)
				}
			}
			next := xadd(t, e.rdb, ingress, "to", "alice", "data", `"next"`)
			cfg := routerConfig("self")
			cfg.MaxDeliveries = 3
			sink := &fakeSink{}
			e.startRouter(t, cfg, sink)
			waitGroupDone(t, e.rdb, ingress, "router", next)

			got := dataOf(sink.pushes())
			dlq := xrange(t, e.rdb, "herald:dlq")
			if tt.wantDead {
				if !reflect.DeepEqual(got, []string{`"next"`}) {
					t.Fatalf("delivered %v, want only next", got)
				}
				if len(dlq) != 1 || dlq[0].Values["reason"] != "max deliveries exceeded" || dlq[0].Values["id"] != poison {
					t.Fatalf("DLQ %v, want the poison entry with reason max deliveries exceeded", dlq)
				}
				var orig map[string]string
				if err := json.Unmarshal([]byte(dlq[0].Values["entry"].(string)), &orig); err != nil ||
					!reflect.DeepEqual(orig, map[string]string{"to": "alice", "data": `"poison"`}) {
					t.Fatalf("DLQ entry field %v, %v", dlq[0].Values["entry"], err)
				}
				if n := counter(t, e.metrics.DeadLetters.WithLabelValues("max_deliveries")); n != 1 {
					t.Fatalf("dead letters max_deliveries = %v", n)
				}
				if n := e.rdb.XLen(ctx, "herald:{u:alice}:h").Val(); n != 1 {
					t.Fatalf("history has %d entries, want 1 (the poison entry is not appended)", n)
				}
			} else {
				sort.Strings(got)
				if !reflect.DeepEqual(got, []string{`"next"`, `"poison"`}) {
					t.Fatalf("delivered %v, want both", got)
				}
				if len(dlq) != 0 {
					t.Fatalf("DLQ %v, want empty", dlq)
				}
			}
		})
	}
}

// Two routers on one partition: only the lease holder reads; when it stops, the
// other takes over.
func TestRouterLease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	lease := e.keys.Lease(0)
	setPresence(t, e, wire.User("alice"), "node-a", "node-b")

	sinkA, sinkB := &fakeSink{}, &fakeSink{}
	stopA := e.startRouter(t, routerConfig("node-a"), sinkA)
	testkit.Eventually(t, waitLong, func() error {
		if got := e.rdb.Get(ctx, lease).Val(); got != "node-a" {
			return fmt.Errorf("lease held by %q", got)
		}
		return nil
	})
	e.startRouter(t, routerConfig("node-b"), sinkB)

	first := []string{
		xadd(t, e.rdb, ingress, "to", "alice", "data", "1"),
		xadd(t, e.rdb, ingress, "to", "alice", "data", "2"),
	}
	waitGroupDone(t, e.rdb, ingress, "router", first[1])
	if got := dataOf(sinkA.pushes()); !reflect.DeepEqual(got, []string{"1", "2"}) {
		t.Fatalf("holder delivered %v", got)
	}
	if got := sinkB.pushes(); len(got) != 0 {
		t.Fatalf("the router without the lease delivered %d pushes", len(got))
	}
	consumers, err := e.rdb.XInfoConsumers(ctx, ingress, "router").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range consumers {
		if c.Name != "node-a" {
			t.Fatalf("consumer %q read the partition without the lease", c.Name)
		}
	}
	// The holder sent node-b's copies through its inbox.
	if n := e.rdb.XLen(ctx, e.keys.Inbox("node-b")).Val(); n != 2 {
		t.Fatalf("node-b inbox has %d entries, want 2", n)
	}

	stopA()
	testkit.Eventually(t, 5*routerConfig("").LeaseTTL+waitLong, func() error {
		if got := e.rdb.Get(ctx, lease).Val(); got != "node-b" {
			return fmt.Errorf("lease held by %q after the holder stopped", got)
		}
		return nil
	})
	third := xadd(t, e.rdb, ingress, "to", "alice", "data", "3")
	waitGroupDone(t, e.rdb, ingress, "router", third)
	if got := dataOf(sinkB.pushes()); !reflect.DeepEqual(got, []string{"3"}) {
		t.Fatalf("new holder delivered %v, want 3", got)
	}
	if got := dataOf(sinkA.pushes()); len(got) != 2 {
		t.Fatalf("stopped router delivered %v", got)
	}
	if n := e.rdb.XLen(ctx, e.keys.Inbox("node-a")).Val(); n != 1 {
		t.Fatalf("node-a inbox has %d entries, want 1", n)
	}
}

// A lease held by a node that died blocks reading until it expires.
func TestRouterWaitsForForeignLease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	lease := e.keys.Lease(0)
	if err := e.rdb.Set(ctx, lease, "ghost", 0).Err(); err != nil {
		t.Fatal(err)
	}
	setPresence(t, e, wire.User("alice"), "self")
	id := xadd(t, e.rdb, ingress, "to", "alice", "data", "1")
	sink := &fakeSink{}
	e.startRouter(t, routerConfig("self"), sink)
	// The router reports healthy once it has looked at the lease.
	testkit.Eventually(t, waitLong, func() error { return e.health.Ready() })
	if err := e.rdb.XInfoGroups(ctx, ingress).Err(); err == nil {
		if c, _ := e.rdb.XInfoConsumers(ctx, ingress, "router").Result(); len(c) > 0 {
			t.Fatalf("consumers %v read while another node held the lease", c)
		}
	}
	if got := sink.pushes(); len(got) != 0 {
		t.Fatalf("delivered %d pushes while another node held the lease", len(got))
	}
	if got := e.rdb.Get(ctx, lease).Val(); got != "ghost" {
		t.Fatalf("lease taken from its holder: %q", got)
	}
	// The dead node's lease runs out.
	if err := e.rdb.PExpire(ctx, lease, 100*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	sink.waitPushes(t, 1)
	waitGroupDone(t, e.rdb, ingress, "router", id)
	if got := e.rdb.Get(ctx, lease).Val(); got != "self" {
		t.Fatalf("lease %q, want self", got)
	}
}

// Stop releases the lease at once, so another node need not wait for it to expire.
func TestRouterStopReleasesLease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	cfg := routerConfig("self")
	cfg.LeaseTTL = time.Hour // would block a successor for an hour if not released
	stop := e.startRouter(t, cfg, &fakeSink{})
	testkit.Eventually(t, waitLong, func() error {
		if got := e.rdb.Get(ctx, e.keys.Lease(0)).Val(); got != "self" {
			return fmt.Errorf("lease %q", got)
		}
		return nil
	})
	stop()
	stop() // idempotent
	if n := e.rdb.Exists(ctx, e.keys.Lease(0)).Val(); n != 0 {
		t.Fatalf("lease still held after Stop (ttl %v)", e.rdb.PTTL(ctx, e.keys.Lease(0)).Val())
	}
}
