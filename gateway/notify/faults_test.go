package notify_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/gateway/push"
	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

// Redis restarted (with its append-only file) while the worker runs: every
// push is notified to every target once, none lost, none repeated.
func TestRedisRestartLosesAndRepeatsNothing(t *testing.T) {
	e := newEnv(t, redistest.Options{AppendOnly: true})
	e.rdb = redis.NewClient(&redis.Options{Addr: e.srv.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = e.rdb.Close() })
	e.put(t, "alice", "phone", fcm("f1"))
	e.put(t, "alice", "tablet", apns("a1"))
	s := newFakeSender()
	w := e.start(t, testConfig("n1"), s, 0)
	var want []string
	for i := range 10 {
		id := fmt.Sprintf("m%02d", i)
		want = append(want, id)
		e.unacked(t, "alice", id, `{}`)
	}
	s.waitSent(t, "f1", 3)
	e.srv.Restart(t)
	for i := 10; i < 20; i++ {
		id := fmt.Sprintf("m%02d", i)
		want = append(want, id)
		testkit.Eventually(t, waitLong, func() error { return e.tryUnacked("alice", id) })
	}
	w.waitEvents(t, "notified", 20)
	e.waitSettled(t)
	if got := s.byToken(); !reflect.DeepEqual(got, map[string][]string{"f1": want, "a1": want}) {
		t.Errorf("sent %v, want each of %v once per target", got, want)
	}
}

// tryUnacked is unacked without failing the test, for use while Redis comes back.
func (e *env) tryUnacked(user, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	off, err := e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: e.keys.History(userOf(user)),
		Values: []any{"id", id, "data", "{}", "ts", time.Now().UnixMilli()}}).Result()
	if err != nil {
		return err
	}
	return e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: e.keys.Undelivered(),
		Values: []any{"to", user, "offset", off, "id", id, "data", "{}"}}).Err()
}

// A worker stopped while it holds events (waiting for their grace) leaves them
// pending; another node's worker takes them over once they are idle, and
// notifies each target once.
func TestStoppedWorkersEventsAreTakenOver(t *testing.T) {
	e := newEnv(t, redistest.Options{})
	e.put(t, "alice", "phone", fcm("f1"))
	s := newFakeSender()
	slow := testConfig("n1")
	slow.Grace = time.Hour
	a := e.start(t, slow, s, 0)
	for _, id := range []string{"m1", "m2", "m3"} {
		e.unacked(t, "alice", id, `{}`)
	}
	testkit.Eventually(t, waitLong, func() error {
		if n := value(t, a.metrics.Queue); n != 3 {
			return fmt.Errorf("worker a holds %v events, want 3", n)
		}
		return nil
	})
	a.stop(t)
	b := e.start(t, testConfig("n2"), s, 0)
	b.waitEvents(t, "notified", 3)
	e.waitSettled(t)
	if got := s.byToken(); !reflect.DeepEqual(got, map[string][]string{"f1": {"m1", "m2", "m3"}}) {
		t.Errorf("sent %v", got)
	}
	if got := value(t, b.metrics.Reclaimed); got != 3 {
		t.Errorf("reclaimed %v, want 3", got)
	}
}

// A worker killed in the middle of an event (one target notified and marked,
// the send to the other one in flight) leaves the event pending. The same node
// restarted reads it again at once; another node takes it over once idle.
// Either way only the other target is notified.
func TestKilledMidEventNoTargetTwice(t *testing.T) {
	for _, next := range []string{"n1", "n2"} {
		t.Run("then "+next, func(t *testing.T) { killedMidEvent(t, next) })
	}
}

func killedMidEvent(t *testing.T, next string) {
	e := newEnv(t, redistest.Options{})
	e.put(t, "alice", "a-phone", fcm("first"))
	e.put(t, "alice", "b-tablet", apns("second"))
	s := newFakeSender()
	s.block("second", true)
	a := e.start(t, testConfig("n1"), s, 0)
	e.unacked(t, "alice", "m1", `{}`)
	s.waitSent(t, "first", 1)
	testkit.Eventually(t, waitLong, func() error {
		if s.callsTo("second") == 0 {
			return fmt.Errorf("no send to the second target yet")
		}
		return nil
	})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	_ = a.Stop(cancelled) // as good as a kill: the send is cut off, nothing settled
	a.stopped = true
	s.block("second", false)
	b := e.start(t, testConfig(next), s, 0)
	b.waitEvents(t, "notified", 1)
	e.waitSettled(t)
	if got := s.byToken(); !reflect.DeepEqual(got, map[string][]string{"first": {"m1"}, "second": {"m1"}}) {
		t.Errorf("sent %v, want m1 once per target", got)
	}
	if got := b.notifications(t, "fcm", "deduped"); got != 1 {
		t.Errorf("deduped %v, want 1 (the first target, notified before the kill)", got)
	}
}

// At push.queue_size the worker stops reading (counted): the other events wait
// in Redis, unread, nothing dropped.
func TestQueueBound(t *testing.T) {
	e := newEnv(t, redistest.Options{})
	cfg := testConfig("n1")
	cfg.Grace, cfg.QueueSize = time.Hour, 2
	w := e.start(t, cfg, newFakeSender(), 0)
	for _, id := range []string{"m1", "m2", "m3", "m4"} {
		e.unacked(t, "alice", id, `{}`)
	}
	testkit.Eventually(t, waitLong, func() error {
		if n := value(t, w.metrics.QueueFull); n == 0 {
			return fmt.Errorf("queue full not counted")
		}
		if n := value(t, w.metrics.Queue); n != 2 {
			return fmt.Errorf("queue holds %v, want 2", n)
		}
		return nil
	})
	if p := e.rdb.XPending(ctxT(t), e.keys.Undelivered(), "push").Val(); p.Count != 2 {
		t.Errorf("%d pending, want 2 (the others unread)", p.Count)
	}
}

// gate is a Sender whose sends wait until released, counting how many wait at
// once.
type gate struct {
	mu       sync.Mutex
	inFlight int
	maxSeen  int
	sends    int
	release  chan struct{}
}

func (g *gate) Send(ctx context.Context, _ wire.PushTarget, _ push.Notification) error {
	g.mu.Lock()
	g.inFlight++
	g.sends++
	g.maxSeen = max(g.maxSeen, g.inFlight)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inFlight--
		g.mu.Unlock()
	}()
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return &push.RetryableError{Err: ctx.Err()}
	}
}

func (g *gate) state() (inFlight, maxSeen, sends int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight, g.maxSeen, g.sends
}

// A slow platform holds at most push.concurrency sends; the other events wait
// in the queue. Stop lets the sends in flight finish: their events are
// settled, not cut off.
func TestSlowPlatformBoundedAndStopFinishesSends(t *testing.T) {
	e := newEnv(t, redistest.Options{})
	e.put(t, "alice", "phone", fcm("f1"))
	g := &gate{release: make(chan struct{})}
	cfg := testConfig("n1")
	cfg.Concurrency = 2
	w := e.start(t, cfg, g, 0)
	for i := range 6 {
		e.unacked(t, "alice", fmt.Sprintf("m%d", i), `{}`)
	}
	testkit.Eventually(t, waitLong, func() error {
		if n, _, _ := g.state(); n != 2 {
			return fmt.Errorf("%d sends in flight, want 2", n)
		}
		if q := value(t, w.metrics.Queue); q != 6 {
			return fmt.Errorf("queue holds %v, want 6", q)
		}
		return nil
	})
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- w.Stop(ctx)
	}()
	g.release <- struct{}{}
	g.release <- struct{}{}
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := w.Stop(ctxT(t)); err != nil {
		t.Fatalf("a second Stop: %v", err)
	}
	w.stopped = true
	if _, maxSeen, sends := g.state(); maxSeen != 2 || sends != 2 {
		t.Errorf("at most %d sends at once (want 2), %d sends (want 2: the others wait in the queue)", maxSeen, sends)
	}
	if n := w.events(t, "notified"); n != 2 {
		t.Errorf("%v events settled, want the 2 whose sends finished", n)
	}
	if p := e.rdb.XPending(ctxT(t), e.keys.Undelivered(), "push").Val(); p.Count != 4 {
		t.Errorf("%d events pending after Stop, want the 4 left for the next run", p.Count)
	}
}

// On Redis Cluster every key of one user shares a slot: the worker's
// pipelines and scripts run without CROSSSLOT, and users on different masters
// are notified alike.
func TestWorkerOnRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	rdb := c.Client(t)
	keys := streams.NewKeys("herald", 1)
	e := &env{rdb: rdb, keys: keys, targets: streams.NewPushTargets(rdb, keys, time.Hour)}
	s := newFakeSender()
	users := []string{"alice", "bob", "carol", "dave", "erin"}
	for _, u := range users {
		e.put(t, u, "phone", fcm("f-"+u))
	}
	w := e.start(t, testConfig("n1"), s, 10)
	for _, u := range users {
		e.unacked(t, u, "m-"+u, `{}`)
	}
	w.waitEvents(t, "notified", float64(len(users)))
	e.waitSettled(t)
	for _, u := range users {
		if got := s.byToken()["f-"+u]; !reflect.DeepEqual(got, []string{"m-" + u}) {
			t.Errorf("%s notified %v", u, got)
		}
	}
	if n := value(t, w.metrics.RedisErrors); n != 0 {
		t.Errorf("%v Redis errors on the cluster", n)
	}
}
