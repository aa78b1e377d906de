package streams_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

func startCluster(t *testing.T, e *env, node string, p *streams.Presence, onLost func()) {
	t.Helper()
	c := streams.NewCluster(e.rdb, e.keys, streams.ClusterConfig{Node: node, NodeTTL: 2 * time.Second, Debounce: time.Second},
		p, onLost, e.log, e.metrics, e.health)
	if err := c.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Stop(ctx)
	})
}

// A node reaped while it was paused, and back within the reaper's sweeping time,
// keeps its inbox: the pushes in it are for its sessions again.
func TestReaperSweepSparesANodeThatCameBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	old := float64(time.Now().Add(-time.Minute).UnixMilli())
	if err := e.rdb.ZAdd(ctx, e.keys.Nodes(), redis.Z{Score: old, Member: "paused"}).Err(); err != nil {
		t.Fatal(err)
	}
	p, _ := newPresence(t, e, "a")
	p.Start()
	startCluster(t, e, "a", p, nil)
	testkit.Eventually(t, waitLong, func() error { // a reaps it once connected for NodeTTL
		if counter(t, e.metrics.NodesReaped) < 1 {
			return errNotYet
		}
		return nil
	})
	// It wakes: heartbeats (every 200 ms here), and a router hands it a push.
	beat := func() {
		if err := e.rdb.ZAdd(ctx, e.keys.Nodes(), redis.Z{Score: float64(time.Now().UnixMilli()), Member: "paused"}).Err(); err != nil {
			t.Error(err)
		}
	}
	beat()
	xadd(t, e.rdb, e.keys.Inbox("paused"), inboxEntry(wire.User("bob"), "1-0", "1")...)
	for range 12 { // two sweeps and more
		time.Sleep(200 * time.Millisecond)
		beat()
	}
	if n := e.rdb.XLen(ctx, e.keys.Inbox("paused")).Val(); n != 1 {
		t.Fatalf("the inbox of a node that came back holds %d entries, want its push", n)
	}
}

// A node silent for longer than half its TTL writes no presence until a
// heartbeat tells whether it was declared dead; if it was, its sessions are told
// to resume (onLost) before its presence is written again: else newer pushes
// would reach sessions that missed older ones, and their clients would resume
// after the gap.
func TestPresenceWaitsForTheHeartbeatAfterSilence(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	p, _ := newPresence(t, e, "n")
	p.Start()
	var lostSawPresence, lost atomic.Int32
	alice := wire.User("alice")
	startCluster(t, e, "n", p, func() {
		lost.Add(1)
		if ok, _ := e.rdb.SIsMember(context.Background(), e.keys.Presence(alice), "n").Result(); ok {
			lostSawPresence.Add(1)
		}
	})
	if err := e.rdb.Set(ctx, e.keys.Nodes(), "heartbeats fail", 0).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // silent past NodeTTL/2
	p.Add(alice, nil)
	time.Sleep(1500 * time.Millisecond) // heartbeats still failing: nothing written
	if ok := e.rdb.SIsMember(ctx, e.keys.Presence(alice), "n").Val(); ok {
		t.Fatal("presence written while the node did not know whether it was declared dead")
	}
	if err := e.rdb.Del(ctx, e.keys.Nodes()).Err(); err != nil { // reaped meanwhile
		t.Fatal(err)
	}
	testkit.Eventually(t, waitLong, func() error {
		if !e.rdb.SIsMember(ctx, e.keys.Presence(alice), "n").Val() {
			return errNotYet
		}
		return nil
	})
	if lost.Load() != 1 || lostSawPresence.Load() != 0 {
		t.Fatalf("onLost ran %d times, %d of them after presence was written", lost.Load(), lostSawPresence.Load())
	}
}

// A node whose own Redis calls were failing (here its offline events, as when
// Redis was paused while the loop waited in that call) does not judge other nodes
// dead until it has reached Redis without a break for node_ttl again: right after
// an outage every heartbeat looks old.
func TestReaperWaitsAfterItsOwnRedisFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	if err := e.rdb.Set(ctx, e.keys.OfflinePending(), "offline events fail", 0).Err(); err != nil {
		t.Fatal(err)
	}
	old := float64(time.Now().Add(-time.Minute).UnixMilli())
	if err := e.rdb.ZAdd(ctx, e.keys.Nodes(), redis.Z{Score: old, Member: "silent"}).Err(); err != nil {
		t.Fatal(err)
	}
	p, _ := newPresence(t, e, "a")
	p.Start()
	startCluster(t, e, "a", p, nil)
	time.Sleep(3 * time.Second) // past node_ttl, failing all along
	if n := counter(t, e.metrics.NodesReaped); n != 0 {
		t.Fatalf("reaped %v nodes while its own Redis calls failed", n)
	}
	if err := e.rdb.Del(ctx, e.keys.OfflinePending()).Err(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, waitLong, func() error {
		if counter(t, e.metrics.NodesReaped) != 1 {
			return errNotYet
		}
		return nil
	})
}
