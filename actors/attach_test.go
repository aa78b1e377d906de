package actors

import (
	"context"
	"testing"

	"github.com/herald-push/herald/wire"
)

// acquireSlot takes a slot of limits.max_sessions_per_user when the limit is on,
// and says whether the user is over it; the slot is given back once, whoever
// gets there first.
func TestAcquireSlot(t *testing.T) {
	setup := func(lim *fakeLimit) (*System, *Handle) {
		s := &System{deps: Deps{Limit: lim}}
		return s, &Handle{sys: s, user: wire.User("alice")}
	}
	t.Run("limit off", func(t *testing.T) {
		lim := &fakeLimit{}
		s, h := setup(lim)
		if !s.acquireSlot(context.Background(), h) || h.slotHeld.Load() {
			t.Fatal("with the limit off a session needs no slot")
		}
		if acquired, _ := lim.counts(); acquired != 0 {
			t.Fatal("a slot was taken with the limit off")
		}
	})
	t.Run("over the limit", func(t *testing.T) {
		s, h := setup(&fakeLimit{enabled: true, refuse: true})
		if s.acquireSlot(context.Background(), h) || h.slotHeld.Load() {
			t.Fatal("a session over the limit was let in")
		}
	})
	t.Run("taken and given back once", func(t *testing.T) {
		lim := &fakeLimit{enabled: true}
		s, h := setup(lim)
		if !s.acquireSlot(context.Background(), h) || !h.slotHeld.Load() {
			t.Fatal("no slot taken")
		}
		s.releaseSlot(h)
		s.releaseSlot(h)
		if acquired, released := lim.counts(); acquired != 1 || released != 1 {
			t.Fatalf("acquired %d, released %d; want 1 and 1", acquired, released)
		}
	})
	t.Run("session stopped while acquiring", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		lim := &fakeLimit{enabled: true, onAcquire: cancel}
		s, h := setup(lim)
		s.acquireSlot(ctx, h)
		if _, released := lim.counts(); released != 1 || h.slotHeld.Load() {
			t.Fatalf("a slot taken for a stopped session was not given back (released %d)", released)
		}
	})
}
