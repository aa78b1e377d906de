package actors

import (
	"context"

	"github.com/herald-push/herald/wire"
)

// acquireSlot takes one of the user's session slots, waiting out Redis outages; it
// returns false when the user is at the limit (or the session stopped meanwhile).
func (s *System) acquireSlot(ctx context.Context, h *Handle) bool {
	lim := s.deps.Limit
	if lim == nil || !lim.Enabled() {
		return true
	}
	var got bool
	ok := retry(ctx, func() (err error) {
		got, err = lim.Acquire(ctx, h.user.Name)
		return err
	})
	if !ok || !got {
		return false
	}
	h.slotHeld.Store(true)
	if ctx.Err() != nil { // stopped meanwhile; whoever swaps the flag releases
		s.releaseSlot(h)
	}
	return true
}

// releaseSlot gives the session's slot back, once, from whichever of the attach
// goroutine and the stopping actor gets there first.
func (s *System) releaseSlot(h *Handle) {
	if h.slotHeld.CompareAndSwap(true, false) {
		s.deps.Limit.Release(h.user.Name)
	}
}

// resumePoint decides where the user's stream starts: the client's since, else its
// device's cursor, else the history top noted before presence is registered (so that
// a push routed while registering is replayed, not missed).
func (s *System) resumePoint(ctx context.Context, spec SessionSpec) (*attachReady, bool) {
	r := wire.User(spec.User)
	if spec.HasSince {
		return &attachReady{r: r, since: spec.Since, resume: true}, true
	}
	if spec.Device != "" {
		var cur wire.Offset
		var found bool
		ok := retry(ctx, func() (err error) {
			cur, found, err = s.deps.Cursors.Get(ctx, spec.User, spec.Device)
			return err
		})
		if !ok {
			return nil, false
		}
		if found {
			return &attachReady{r: r, since: cur, resume: true}, true
		}
	}
	return s.topPoint(ctx, r)
}

// topPoint is a live-only start: after r's history top as it is now.
func (s *System) topPoint(ctx context.Context, r wire.Recipient) (*attachReady, bool) {
	var top wire.Offset
	ok := retry(ctx, func() (err error) {
		top, err = s.deps.History.Top(ctx, r)
		return err
	})
	return &attachReady{r: r, since: top}, ok
}
