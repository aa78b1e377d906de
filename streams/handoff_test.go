package streams_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

// A push whose inbox write fails (here the inbox key holds a string: WRONGTYPE,
// as a Redis Cluster master that is down or out of memory would fail it) leaves
// its ingress entry pending, is written again with the same history entry (no
// second append), and only then acknowledged.
func TestFailedInboxWriteIsRetriedBeforeTheAck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	inbox := e.keys.Inbox("other")
	if err := e.rdb.Set(ctx, inbox, "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	setPresence(t, e, wire.User("alice"), "other")
	cfg := routerConfig("self")
	cfg.MaxDeliveries = 1000 // a refusal this long would be dead-lettered (next test)
	e.startRouter(t, cfg, &fakeSink{})
	id := xadd(t, e.rdb, ingress, "to", "alice", "data", `"p"`)
	testkit.Eventually(t, waitLong, func() error {
		if counter(t, e.metrics.RedisErrors.WithLabelValues("handoff")) < 3 {
			return errNotYet // a few retries
		}
		return nil
	})
	if n := pendingCount(t, e.rdb, ingress, "router"); n != 1 {
		t.Fatalf("%d entries pending while the inbox write fails, want the push's", n)
	}
	if err := e.rdb.Del(ctx, inbox).Err(); err != nil { // the master is back
		t.Fatal(err)
	}
	waitGroupDone(t, e.rdb, ingress, "router", id)
	hist := xrange(t, e.rdb, "herald:{u:alice}:h")
	if len(hist) != 1 {
		t.Fatalf("history holds %d entries after the retries, want 1", len(hist))
	}
	got := xrange(t, e.rdb, inbox)
	if len(got) != 1 || got[0].Values["o"] != hist[0].ID || got[0].Values["id"] != id {
		t.Fatalf("inbox %v, want the push at history offset %s", got, hist[0].ID)
	}
}

// A write Redis refuses for good (a wrong-type inbox key, a permission the node's
// user lacks) does not stop the partition: after streams.max_deliveries attempts
// the push is dead-lettered for that node, with the reason, and routing goes on.
func TestRefusedInboxWriteIsDeadLetteredAndRoutingGoesOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	if err := e.rdb.Set(ctx, e.keys.Inbox("broken"), "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	setPresence(t, e, wire.User("alice"), "broken")
	setPresence(t, e, wire.User("bob"), "self")
	sink := &fakeSink{}
	e.startRouter(t, routerConfig("self"), sink)
	xadd(t, e.rdb, ingress, "to", "alice", "data", `"a"`)
	last := xadd(t, e.rdb, ingress, "to", "bob", "data", `"b"`)
	waitGroupDone(t, e.rdb, ingress, "router", last)
	if got := dataOf(sink.pushes()); !reflect.DeepEqual(got, []string{`"b"`}) {
		t.Fatalf("delivered %v, want bob's push", got)
	}
	dlq := xrange(t, e.rdb, "herald:dlq")
	if len(dlq) != 1 || !strings.Contains(fmt.Sprint(dlq[0].Values["reason"]), "hand-off to node broken refused") {
		t.Fatalf("dead letters %v, want alice's push for node broken", dlq)
	}
}

// Routers never trim a node's inbox: entries its node has not read stay.
func TestRoutersDoNotTrimInboxes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	setPresence(t, e, wire.User("alice"), "other")
	const n = 1500 // past the approximate MAXLEN routers used to write with
	var last string
	for i := 0; i < n; i++ {
		last = xadd(t, e.rdb, ingress, "to", "alice", "data", fmt.Sprint(i))
	}
	cfg := routerConfig("self")
	cfg.ReadCount = 500
	e.startRouter(t, cfg, &fakeSink{})
	waitGroupDone(t, e.rdb, ingress, "router", last)
	if got := e.rdb.XLen(testCtx(t), e.keys.Inbox("other")).Val(); got != n {
		t.Fatalf("unread inbox holds %d entries, want %d", got, n)
	}
}

// A router that takes a partition's lease delivers nothing to its node's sessions
// directly before its node's inbox has handed over what the previous holder
// wrote there: else the newer push overtakes the older one, and a client that
// disconnects between the two and resumes from the newer offset never gets the
// older one (the late push of a lease change).
func TestNewLeaseHolderWaitsForItsInbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	setPresence(t, e, wire.User("alice"), "self")
	// The previous holder hands p1 to self's inbox, and goes.
	stopOld := e.startRouter(t, routerConfig("old"), &fakeSink{})
	first := xadd(t, e.rdb, ingress, "to", "alice", "data", `"p1"`)
	waitGroupDone(t, e.rdb, ingress, "router", first)
	stopOld()

	sink := &fakeSink{}
	in := streams.NewInbox(e.rdb, e.keys, streams.InboxConfig{Node: "self", ReadCount: 10, Block: 50 * time.Millisecond, DLQMaxLen: 1000}, sink, e.log, e.metrics, e.health)
	r := streams.NewRouter(e.rdb, e.keys, routerConfig("self"), sink, in, nil, e.log, e.metrics, e.health)
	r.Start()
	t.Cleanup(func() { stopBoth(t, r, in) })
	second := xadd(t, e.rdb, ingress, "to", "alice", "data", `"p2"`)
	time.Sleep(300 * time.Millisecond) // the router holds the lease, its inbox is not read yet
	if got := dataOf(sink.pushes()); len(got) != 0 {
		t.Fatalf("delivered %v before the inbox was read", got)
	}
	in.Start()
	waitGroupDone(t, e.rdb, ingress, "router", second)
	testkit.Eventually(t, waitLong, func() error {
		if got := dataOf(sink.pushes()); !reflect.DeepEqual(got, []string{`"p1"`, `"p2"`}) {
			return fmt.Errorf("delivered %v, want p1 then p2", got)
		}
		return nil
	})
}

func stopBoth(t *testing.T, r *streams.Router, in *streams.Inbox) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Error(err)
	}
	if err := in.Stop(ctx); err != nil {
		t.Error(err)
	}
}

// A router that lost its lease while a hand-off was on its way (paused past
// lease_ttl, or cut off from Redis) does not acknowledge it: the entry stays
// pending, and the new holder routes it again with a newer offset.
func TestHandOffAfterTheLeaseMovedIsNotAcknowledged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	setPresence(t, e, wire.User("alice"), "self")
	sink := &gateSink{entered: make(chan struct{}), open: make(chan struct{})}
	e.startRouter(t, routerConfig("self"), sink)
	xadd(t, e.rdb, ingress, "to", "alice", "data", `"p"`)
	<-sink.entered // handing off, before the pipeline that confirms it
	if err := e.rdb.Set(ctx, e.keys.Lease(0), "other", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	close(sink.open)
	time.Sleep(3 * routerConfig("").LeaseTTL) // the router acknowledges, renews, finds the lease gone
	res, err := e.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: ingress, Group: "router", Start: "-", End: "+", Count: 10}).Result()
	if err != nil || len(res) != 1 || res[0].Consumer != "self" {
		t.Fatalf("pending %v (%v), want the push, still pending for self", res, err)
	}
}

// gateSink blocks its first Deliver until open is closed.
type gateSink struct {
	once    sync.Once
	entered chan struct{}
	open    chan struct{}
}

func (s *gateSink) Deliver(_ []*wire.Push, accepted, written func()) {
	s.once.Do(func() {
		close(s.entered)
		<-s.open
	})
	if accepted != nil {
		accepted()
	}
	if written != nil {
		written()
	}
}

// An inbox whose backlog passes MaxLen (its node cannot keep up) closes the
// node's sessions once, counted, and trims nothing unread.
func TestInboxOverflowClosesSessionsAndKeepsEntries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stream := e.keys.Inbox("n1")
	overflows := make(chan struct{}, 10)
	sink := &fakeSink{hold: true} // sessions that write nothing
	in := streams.NewInbox(e.rdb, e.keys, streams.InboxConfig{
		Node: "n1", ReadCount: 1, Block: 50 * time.Millisecond, DLQMaxLen: 1000, MaxLen: 20,
		OnOverflow: func() { overflows <- struct{}{} },
	}, sink, e.log, e.metrics, e.health)
	const n = 40
	for i := 0; i < n; i++ {
		xadd(t, e.rdb, stream, inboxEntry(wire.User("bob"), fmt.Sprintf("%d-0", i+1), fmt.Sprint(i))...)
	}
	in.Start()
	t.Cleanup(func() {
		sink.release()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := in.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	select {
	case <-overflows:
	case <-time.After(waitLong):
		t.Fatal("no overflow with 40 entries over a bound of 20")
	}
	time.Sleep(2500 * time.Millisecond) // two more checks
	if len(overflows) != 0 || counter(t, e.metrics.InboxOverflows) != 1 {
		t.Fatalf("overflow reported %v times, want once", counter(t, e.metrics.InboxOverflows))
	}
	if got := e.rdb.XLen(testCtx(t), stream).Val(); got != n {
		t.Fatalf("inbox holds %d entries, want all %d", got, n)
	}
}
