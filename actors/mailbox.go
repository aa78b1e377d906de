package actors

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// mailbox is a protoactor mailbox for actors that are idle nearly all the time,
// as a session is. protoactor's default unbounded mailbox preallocates a 10-slot
// ring for user messages and a linked queue for system messages: about 330 bytes of
// every idle session (bench/RESULTS.md). Here both queues are slices that stay nil
// until a message comes and are dropped again when a burst drained them.
//
// It is unbounded like protoactor's: what a session may queue is bounded before its
// mailbox (the outbox's byte budget, the inbound slots), and a mailbox message is a
// wake-up or a reply, not data.
//
// The processing contract is protoactor's defaultMailbox's: system messages first,
// user messages only while not suspended, a yield every Throughput messages, and a
// panic in a handler escalated to the supervisor with the message.
type mailbox struct {
	mu         sync.Mutex
	user       msgQueue
	system     msgQueue
	running    atomic.Bool
	suspended  atomic.Bool
	invoker    actor.MessageInvoker
	dispatcher actor.Dispatcher
}

// newMailbox is the actor.MailboxProducer of mailbox.
func newMailbox() actor.Mailbox { return &mailbox{} }

func (m *mailbox) PostUserMessage(msg any) {
	m.mu.Lock()
	m.user.push(msg)
	m.mu.Unlock()
	m.schedule()
}

func (m *mailbox) PostSystemMessage(msg any) {
	m.mu.Lock()
	m.system.push(msg)
	m.mu.Unlock()
	m.schedule()
}

func (m *mailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.invoker, m.dispatcher = invoker, dispatcher
}

func (m *mailbox) Start() {}

func (m *mailbox) UserMessageCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.user.len()
}

func (m *mailbox) schedule() {
	if m.running.CompareAndSwap(false, true) {
		m.dispatcher.Schedule(m.process)
	}
}

// process is one turn: it runs until the queues are empty, then checks again for
// what was posted while it was finishing.
func (m *mailbox) process() {
	for {
		m.run()
		m.running.Store(false)
		if !m.hasWork() || !m.running.CompareAndSwap(false, true) {
			return
		}
	}
}

func (m *mailbox) hasWork() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.system.len() > 0 || (!m.suspended.Load() && m.user.len() > 0)
}

func (m *mailbox) run() {
	var msg any
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
		}
	}()
	for i, t := 0, m.dispatcher.Throughput(); ; i++ {
		if i > t {
			i = 0
			runtime.Gosched()
		}
		if msg = m.pop(&m.system); msg != nil {
			switch msg.(type) {
			case *actor.SuspendMailbox:
				m.suspended.Store(true)
			case *actor.ResumeMailbox:
				m.suspended.Store(false)
			default:
				m.invoker.InvokeSystemMessage(msg)
			}
			continue
		}
		if m.suspended.Load() {
			return
		}
		if msg = m.pop(&m.user); msg == nil {
			return
		}
		m.invoker.InvokeUserMessage(msg)
	}
}

func (m *mailbox) pop(q *msgQueue) any {
	m.mu.Lock()
	defer m.mu.Unlock()
	return q.pop()
}

// msgQueue is a FIFO on a slice. Drained, it keeps a buffer of up to keptCap slots
// for the next message and drops a larger one; never drained, it compacts.
type msgQueue struct {
	buf  []any
	head int
}

const keptCap = 4

func (q *msgQueue) push(msg any) { q.buf = append(q.buf, msg) }

func (q *msgQueue) len() int { return len(q.buf) - q.head }

func (q *msgQueue) pop() any {
	if q.head == len(q.buf) {
		return nil
	}
	msg := q.buf[q.head]
	q.buf[q.head] = nil
	q.head++
	switch {
	case q.head == len(q.buf):
		q.head = 0
		q.buf = q.buf[:0]
		if cap(q.buf) > keptCap {
			q.buf = nil
		}
	case q.head >= 32 && 2*q.head >= len(q.buf):
		// Never drained while messages keep coming: move the rest to the front
		// so that the consumed part does not grow with them.
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf = q.buf[:n]
		q.head = 0
	}
	return msg
}
