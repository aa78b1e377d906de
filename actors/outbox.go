package actors

import (
	"sync"
	"sync/atomic"

	"github.com/herald-push/herald/wire"
)

// outItem is one push waiting for a session's writer, with the batch it belongs to.
type outItem struct {
	push    *wire.Push
	written *tracker
}

// pushResult says what offer did with an item.
type pushResult int

const (
	queued   pushResult = iota // waiting; the writer was already told
	wakeUp                     // waiting; the caller must wake the writer
	closed                     // the session is gone; the caller releases the item
	overflow                   // over the byte budget: the outbox closed itself
)

// outbox is a session's bounded queue of unsent pushes. It, not the actor mailbox,
// holds push data, so the budget is exact: limit bytes of frames per session. The
// mailbox only ever carries one wake-up per batch.
type outbox struct {
	mu    sync.Mutex
	items []outItem
	bytes int
	limit int
	// stashed is what the session holds in its subscriptions' stashes; it shares
	// the budget, so that a session never holds more than limit bytes of pushes.
	stashed atomic.Int64
	closed  bool
	woken   bool // a wake-up is on its way to the writer
}

// push queues it. On overflow the outbox closes and returns its items, which the
// caller releases along with it.
func (o *outbox) push(it outItem) (pushResult, []outItem) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return closed, nil
	}
	size := len(it.push.Frame)
	if o.bytes+size+int(o.stashed.Load()) > o.limit {
		dropped := o.closeLocked()
		return overflow, dropped
	}
	o.items = append(o.items, it)
	o.bytes += size
	if o.woken {
		return queued, nil
	}
	o.woken = true
	return wakeUp, nil
}

// take moves every waiting item to dst. When there is none it clears woken, so the
// next push wakes the writer again.
func (o *outbox) take(dst []outItem) []outItem {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.items) == 0 {
		o.woken = false
		return dst
	}
	dst = append(dst, o.items...)
	clear(o.items)
	o.items = o.items[:0]
	if cap(o.items) > 256 {
		o.items = nil // don't keep a burst's backing array on an idle session
	}
	o.bytes = 0
	return dst
}

// close refuses further pushes and returns what was waiting.
func (o *outbox) close() []outItem {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closeLocked()
}

func (o *outbox) closeLocked() []outItem {
	o.closed = true
	items := o.items
	o.items, o.bytes = nil, 0
	return items
}

func releaseAll(items []outItem) {
	for _, it := range items {
		it.written.release()
	}
}
