package actors

import (
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herald-push/herald/wire"
)

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

// The outbox shares its budget with the session's stashes: what waits there
// counts as if it were queued.
func TestOutboxCountsTheStashAgainstTheBudget(t *testing.T) {
	o := outbox{limit: 100}
	o.stashed.Store(80)
	if r, _ := o.push(outItem{push: push(20)}); r != wakeUp {
		t.Fatalf("push up to the budget: %v, want wakeUp", r)
	}
	if r, _ := o.push(outItem{push: push(1)}); r != overflow {
		t.Fatalf("push over the budget with 80 bytes stashed: %v, want overflow", r)
	}
}

// Over the budget, offer closes the session with 4008 once, counts it once, and
// releases every push it held, so that the batches are not held by a slow client.
func TestOfferOverTheBudgetClosesTheSessionOnce(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	h := testHandle("alice")
	h.sys = &System{deps: Deps{Metrics: m}}
	h.out.limit = 100
	c := &shardCtx{}
	wr := newSignal()
	written := newTracker(wr.fire)
	if !h.offer(c, push(60), written) {
		t.Fatal("the first push did not ask to wake the session")
	}
	for range 3 { // over the budget, then on a closed outbox
		if h.offer(c, push(60), written) {
			t.Fatal("a push over the budget asked to wake the session")
		}
	}
	written.release() // the creator's hold
	if !wr.fired() {
		t.Fatal("pushes over the budget were not released")
	}
	got := c.sentTo(h.pid.Load())
	if len(got) != 1 {
		t.Fatalf("sent %v to the session, want one close", got)
	}
	if req, ok := got[0].(*closeReq); !ok || req.code != wire.CloseSlowConsumer {
		t.Fatalf("sent %v, want a 4008 close", got[0])
	}
	if n := testCounter(m.SlowClosed); n != 1 {
		t.Errorf("herald_slow_consumer_closes_total = %v, want 1", n)
	}
}
