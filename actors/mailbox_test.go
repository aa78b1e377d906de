package actors

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
)

// recordingInvoker records what a mailbox hands it; a "panic" user message panics.
type recordingInvoker struct {
	mu        sync.Mutex
	system    []any
	user      []any
	escalated []any
	during    func(msg any) // called inside InvokeUserMessage
}

func (r *recordingInvoker) InvokeSystemMessage(m any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.system = append(r.system, m)
}

func (r *recordingInvoker) InvokeUserMessage(m any) {
	if r.during != nil {
		r.during(m)
	}
	if m == "panic" {
		panic("boom")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.user = append(r.user, m)
}

func (r *recordingInvoker) EscalateFailure(reason, m any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.escalated = append(r.escalated, m)
}

func (r *recordingInvoker) users() []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]any(nil), r.user...)
}

// heldDispatcher keeps the turns it is given until runAll runs them.
type heldDispatcher struct {
	mu    sync.Mutex
	turns []func()
}

func (d *heldDispatcher) Schedule(fn func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.turns = append(d.turns, fn)
}

func (d *heldDispatcher) Throughput() int { return 3 }

func (d *heldDispatcher) runAll() int {
	n := 0
	for {
		d.mu.Lock()
		if len(d.turns) == 0 {
			d.mu.Unlock()
			return n
		}
		fn := d.turns[0]
		d.turns = d.turns[1:]
		d.mu.Unlock()
		fn()
		n++
	}
}

// System messages go first, user messages keep their order, one turn runs
// everything queued, and a suspended mailbox holds user messages until resumed.
func TestMailboxOrderAndSuspension(t *testing.T) {
	inv, d := &recordingInvoker{}, &heldDispatcher{}
	m := newMailbox()
	m.RegisterHandlers(inv, d)
	for i := 0; i < 10; i++ {
		m.PostUserMessage(i)
	}
	m.PostSystemMessage("stop")
	if m.UserMessageCount() != 10 {
		t.Fatalf("UserMessageCount %d, want 10", m.UserMessageCount())
	}
	if n := d.runAll(); n != 1 {
		t.Fatalf("%d turns scheduled for one burst, want 1", n)
	}
	if len(inv.system) != 1 || len(inv.users()) != 10 {
		t.Fatalf("system %v, user %v", inv.system, inv.users())
	}
	for i, v := range inv.users() {
		if v != i {
			t.Fatalf("user messages out of order: %v", inv.users())
		}
	}

	m.PostSystemMessage(&actor.SuspendMailbox{})
	m.PostUserMessage("held")
	d.runAll()
	if got := len(inv.users()); got != 10 {
		t.Fatal("a suspended mailbox delivered a user message")
	}
	m.PostSystemMessage(&actor.ResumeMailbox{})
	d.runAll()
	if u := inv.users(); len(u) != 11 || u[10] != "held" {
		t.Fatalf("after resume: %v", u)
	}
	if len(inv.system) != 1 {
		t.Fatalf("suspend and resume reached the actor: %v", inv.system)
	}
}

// A panic is escalated with the message that caused it, and the mailbox goes on.
func TestMailboxEscalatesPanics(t *testing.T) {
	inv, d := &recordingInvoker{}, &heldDispatcher{}
	m := newMailbox()
	m.RegisterHandlers(inv, d)
	m.PostUserMessage("panic")
	m.PostUserMessage("after")
	d.runAll()
	if len(inv.escalated) != 1 || inv.escalated[0] != "panic" {
		t.Fatalf("escalated %v", inv.escalated)
	}
	m.PostUserMessage("later")
	d.runAll()
	if u := inv.users(); len(u) != 2 || u[0] != "after" || u[1] != "later" {
		t.Fatalf("after a panic: %v", u)
	}
}

// Messages posted from many goroutines while turns run are all delivered once, in
// each sender's order, and never by two turns at once.
func TestMailboxConcurrentPosts(t *testing.T) {
	var inTurn atomic.Int32
	inv := &recordingInvoker{}
	inv.during = func(any) {
		if inTurn.Add(1) != 1 {
			t.Error("two turns at once")
		}
		inTurn.Add(-1)
	}
	d := newDispatcher(4, 3, prometheus.NewCounter(prometheus.CounterOpts{Name: "x"}))
	defer d.close()
	m := newMailbox()
	m.RegisterHandlers(inv, d)
	const senders, each = 8, 2000
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				m.PostUserMessage([2]int{s, i})
			}
		}()
	}
	wg.Wait()
	for deadline := time.Now().Add(5 * time.Second); len(inv.users()) < senders*each; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages delivered", len(inv.users()), senders*each)
		}
	}
	next := make([]int, senders)
	for _, v := range inv.users() {
		p := v.([2]int)
		if p[1] != next[p[0]] {
			t.Fatalf("sender %d: message %d after %d", p[0], p[1], next[p[0]]-1)
		}
		next[p[0]]++
	}
}

// A queue that keeps getting messages while it is read never holds more than the
// unread ones plus a bounded consumed prefix, and a drained one keeps at most a
// small buffer.
func TestMsgQueueStaysSmall(t *testing.T) {
	var q msgQueue
	for i := 0; i < 100000; i++ {
		q.push(i)
		q.push(i)
		if q.pop() == nil {
			t.Fatal("pop of a non-empty queue")
		}
		if cap(q.buf) > 4*q.len()+256 {
			t.Fatalf("after %d rounds: %d unread in a buffer of %d", i, q.len(), cap(q.buf))
		}
	}
	for q.pop() != nil {
	}
	if cap(q.buf) > keptCap {
		t.Fatalf("drained queue keeps %d slots", cap(q.buf))
	}
}
