package actors

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/herald-push/herald/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}

func push(size int) *wire.Push {
	return &wire.Push{Frame: make([]byte, size)}
}

func TestOutboxIsBoundedInBytes(t *testing.T) {
	var released atomic.Int64
	tr := newTracker(func() { released.Add(1) })
	o := outbox{limit: 100}
	if r, _ := o.push(outItem{push: push(40), written: tr}); r != wakeUp {
		t.Fatalf("first push: %v, want wakeUp", r)
	}
	if r, _ := o.push(outItem{push: push(40), written: tr}); r != queued {
		t.Fatalf("second push: %v, want queued (one wake-up per batch)", r)
	}
	r, dropped := o.push(outItem{push: push(40), written: tr})
	if r != overflow || len(dropped) != 2 {
		t.Fatalf("third push: %v with %d dropped, want overflow returning the 2 queued", r, len(dropped))
	}
	if r, _ := o.push(outItem{push: push(1), written: tr}); r != closed {
		t.Fatalf("after overflow: %v, want closed", r)
	}
	if got := o.take(nil); len(got) != 0 {
		t.Fatalf("took %d from a closed outbox", len(got))
	}
}

func TestOutboxTakeRearmsTheWakeUp(t *testing.T) {
	o := outbox{limit: 1 << 20}
	o.push(outItem{push: push(10)})
	o.push(outItem{push: push(10)})
	if got := o.take(nil); len(got) != 2 {
		t.Fatalf("took %d, want 2", len(got))
	}
	if r, _ := o.push(outItem{push: push(10)}); r != queued {
		t.Fatalf("push before an empty take: %v, want queued (the writer is still draining)", r)
	}
	o.take(nil)
	o.take(nil) // empty: the writer is done
	if r, _ := o.push(outItem{push: push(10)}); r != wakeUp {
		t.Fatalf("push after an empty take: %v, want wakeUp", r)
	}
}

func TestTrackerRunsDoneOnceAfterEveryRelease(t *testing.T) {
	var done atomic.Int64
	tr := newTracker(func() { done.Add(1) })
	for i := 0; i < 100; i++ {
		tr.add()
	}
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); tr.release() }()
	}
	wg.Wait()
	if done.Load() != 0 {
		t.Fatal("done before the creator's hold was released")
	}
	tr.release()
	if done.Load() != 1 {
		t.Fatalf("done ran %d times", done.Load())
	}
	newTracker(nil).release() // nil trackers are no-ops
}

// A push reaches every live session of its recipient, and the written callback runs
// once they all wrote it; sessions that stop release their share too.
func TestDeliverWritesToEverySessionThenCallsWritten(t *testing.T) {
	sys := newBenchSystem(t)
	var written atomic.Int64
	var handles []*Handle
	for i := 0; i < 3; i++ {
		h, err := sys.Open(SessionSpec{ID: "s", User: "alice"}, countingSocket{pushes: &written})
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, h)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ms := uint64(1); written.Load() < 3; ms++ {
		if time.Now().After(deadline) {
			t.Fatalf("sessions never live: %d writes", written.Load())
		}
		before := written.Load()
		p := &wire.Push{Recipient: wire.User("alice"), ID: "m", Offset: wire.Offset{Ms: ms}, Data: []byte("1")}
		p.Encode()
		var wg sync.WaitGroup
		wg.Add(1)
		sys.Deliver([]*wire.Push{p}, nil, wg.Done)
		wg.Wait()
		if written.Load()-before == 3 {
			break
		}
		written.Store(0)
		time.Sleep(10 * time.Millisecond)
	}
	handles[0].PeerClosed()
	<-handles[0].Done()
	var wg sync.WaitGroup
	wg.Add(1)
	p := &wire.Push{Recipient: wire.User("alice"), ID: "m2", Offset: wire.Offset{Ms: 1 << 40}, Data: []byte("2")}
	p.Encode()
	sys.Deliver([]*wire.Push{p}, nil, wg.Done)
	wg.Wait()
	for _, h := range handles[1:] {
		h.PeerClosed()
		<-h.Done()
	}
	if err := sys.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Live pushes: newer ones written, duplicates dropped, a late one (older than the
// newest written, after the floor, never written) written rather than lost.
func TestSubDueWritesLatePushesOnce(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	sb := &sub{floor: wire.Offset{Ms: 10}, last: wire.Offset{Ms: 10}}
	o := func(ms uint64) wire.Offset { return wire.Offset{Ms: ms} }
	steps := []struct {
		off  uint64
		want bool
	}{
		{9, false},  // at or below the floor: the replay had it
		{10, false}, // the replay's last
		{12, true},  // newer
		{14, true},  // newer
		{12, false}, // written already
		{13, true},  // late: a router failover let it trail 14
		{13, false}, // and only once
		{15, true},
	}
	for _, st := range steps {
		if got := sb.due(o(st.off), m); got != st.want {
			t.Fatalf("due(%d) = %v, want %v", st.off, got, st.want)
		}
	}
}

// wakeRecorder is the shard's actor context in a test: it notes, for every wake a
// session gets, how many pushes were queued on that session at that moment.
type wakeRecorder struct {
	actor.Context
	queuedAtWake map[*actor.PID][]int
	byPID        map[*actor.PID]*Handle
}

func (w *wakeRecorder) Send(pid *actor.PID, msg any) {
	if _, ok := msg.(wake); ok {
		h := w.byPID[pid]
		h.out.mu.Lock()
		w.queuedAtWake[pid] = append(w.queuedAtWake[pid], len(h.out.items))
		h.out.mu.Unlock()
	}
}

// A session with several pushes in one delivered batch is woken once, after all
// of them are queued, so that it writes them as one message (PROTOCOL.md section 4)
// instead of writing the first while the rest queue.
func TestShardWakesASessionOnceItsWholeBatchIsQueued(t *testing.T) {
	d := newShard(nil)
	rec := &wakeRecorder{queuedAtWake: map[*actor.PID][]int{}, byPID: map[*actor.PID]*Handle{}}
	var batch []*wire.Push
	for i, user := range []string{"alice", "bob"} {
		h := &Handle{user: wire.User(user)}
		h.out.limit = 1 << 20
		pid := actor.NewPID("test", user)
		h.pid.Store(pid)
		rec.byPID[pid] = h
		d.byRcpt[h.user] = []*Handle{h}
		for j := 0; j < 3+i; j++ { // alice 3 pushes, bob 4, interleaved below
			p := &wire.Push{Recipient: h.user, Offset: wire.Offset{Ms: uint64(j + 1)}}
			p.Encode()
			batch = append(batch, p)
		}
	}
	batch[1], batch[4] = batch[4], batch[1]
	d.deliver(rec, &deliver{pushes: batch})
	for pid, queued := range rec.queuedAtWake {
		want := len(rec.byPID[pid].out.items)
		if len(queued) != 1 || queued[0] != want {
			t.Errorf("%s: woken with %v pushes queued, want once with all %d", pid.Id, queued, want)
		}
	}
	if len(rec.queuedAtWake) != 2 {
		t.Errorf("%d sessions woken, want 2", len(rec.queuedAtWake))
	}
}
