package actors

import "sync/atomic"

// tracker counts outstanding work and runs done once when it reaches zero. The
// creator holds one count until it has handed everything out, so done cannot run
// early. A nil tracker is a no-op.
type tracker struct {
	n    atomic.Int64
	done func()
}

func newTracker(done func()) *tracker {
	if done == nil {
		return nil
	}
	t := &tracker{done: done}
	t.n.Store(1)
	return t
}

func (t *tracker) add() {
	if t != nil {
		t.n.Add(1)
	}
}

func (t *tracker) release() {
	if t != nil && t.n.Add(-1) == 0 {
		t.done()
	}
}
