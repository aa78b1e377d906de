package streams_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

// With redis.wait_replicas 1 and no replica, the router hands nothing off and
// acknowledges nothing (its history appends are not confirmed), and counts the
// short WAITs; once a replica is attached, everything is delivered and
// acknowledged, and no entry was read again from the pending list (no dead
// letters for the outage).
func TestRouterAcksOnlyWhatReplicasConfirmed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := routerConfig("self")
	cfg.HistorySize = 100
	cfg.WaitReplicas, cfg.WaitTimeout = 1, 100*time.Millisecond // below lease_ttl/3, as in production
	setPresence(t, e, wire.User("alice"), "self")
	var ids []string
	for i := 0; i < 20; i++ {
		ids = append(ids, xadd(t, e.rdb, ingress, "to", "alice", "data", fmt.Sprintf(`{"n":%d}`, i)))
	}
	sink := &fakeSink{}
	e.startRouter(t, cfg, sink)
	testkit.Eventually(t, waitLong, func() error {
		if n := counter(t, e.metrics.WaitShort.WithLabelValues("router")); n < 3 {
			return fmt.Errorf("%v short WAITs so far", n)
		}
		return nil
	})
	if err := groupDone(testCtx(t), e.rdb, ingress, "router", ids[0]); err == nil {
		t.Fatal("an entry was acknowledged though no replica confirmed its writes")
	}
	if n := len(sink.pushes()); n != 0 {
		t.Errorf("%d pushes handed off before a replica confirmed their history", n)
	}

	redistest.StartReplica(t, e.srv)
	waitGroupDone(t, e.rdb, ingress, "router", ids[len(ids)-1])
	sink.waitPushes(t, len(ids))
	if n := pendingCount(t, e.rdb, ingress, "router"); n != 0 {
		t.Errorf("%d entries still pending", n)
	}
	if got := len(distinctByID(sink.pushes())); got != len(ids) {
		t.Errorf("sink got %d distinct pushes, want %d", got, len(ids))
	}
	if n := e.rdb.XLen(testCtx(t), "herald:dlq").Val(); n != 0 {
		t.Errorf("%d dead letters after a replica outage", n)
	}
	t.Logf("%v short WAITs, %d pushes handed to the sink for %d entries",
		counter(t, e.metrics.WaitShort.WithLabelValues("router")), len(sink.pushes()), len(ids))
}

// Publish with WaitReplicas: ErrNotReplicated without a replica, an id with one.
func TestPublishWaitsForReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pb := streams.NewPublisher(e.rdb, e.keys, 1024, e.metrics)
	pb.WaitReplicas(1, 50*time.Millisecond)
	_, err := pb.Publish(testCtx(t), streams.Publication{To: "alice", Data: []byte(`{}`)})
	if !errors.Is(err, streams.ErrNotReplicated) {
		t.Fatalf("Publish without a replica: %v, want ErrNotReplicated", err)
	}
	if n := counter(t, e.metrics.WaitShort.WithLabelValues("publish")); n != 1 {
		t.Errorf("wait_short{publish} = %v, want 1", n)
	}
	redistest.StartReplica(t, e.srv)
	testkit.Eventually(t, waitLong, func() error { // a publisher retries; a loaded replica may miss one WAIT
		_, err := pb.Publish(testCtx(t), streams.Publication{To: "alice", Data: []byte(`{}`)})
		return err
	})
}

// A presence write with WaitReplicas counts as done only once a replica has it:
// a session goes live (replays, then relies on live pushes) only on a presence a
// failover cannot lose.
func TestPresenceWaitsForReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p, _ := newPresence(t, e, "n")
	p.WaitReplicas(1, 100*time.Millisecond)
	p.Start()
	ready := make(chan struct{})
	p.Add(wire.User("alice"), func() { close(ready) })
	select {
	case <-ready:
		t.Fatal("presence confirmed without a replica")
	case <-time.After(time.Second):
	}
	redistest.StartReplica(t, e.srv)
	select {
	case <-ready:
	case <-time.After(waitLong):
		t.Fatal("presence never confirmed once a replica was attached")
	}
}
