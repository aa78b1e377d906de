package actors

import (
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-push/herald/wire"
)

// Handle is the part of a session that other goroutines touch: the gateway's read
// loop, directory shards and the drain. Everything else belongs to the actor.
type Handle struct {
	sys        *System
	pid        atomic.Pointer[actor.PID]
	id         string
	user       wire.Recipient
	out        outbox
	slots      chan struct{} // client frames waiting for the actor
	done       chan struct{} // closed when the actor has stopped
	peerClosed atomic.Bool
	overflowed atomic.Bool
	slotHeld   atomic.Bool // a slot of limits.max_sessions_per_user
	unlisted   atomic.Bool // the session told Deps.Index it closed
	// spec is the session's, read-only once Open returned.
	spec *SessionSpec
	// Unix nanoseconds of the session's next ping and of its token's expiry (0:
	// none), kept by the user's directory shard (shard.clock) instead of two
	// timers per session.
	pingAt   atomic.Int64
	expireAt atomic.Int64
}

// ID is the session id.
func (h *Handle) ID() string { return h.id }

// Done is closed once the session's actor has stopped and released everything.
func (h *Handle) Done() <-chan struct{} { return h.done }

// Inbound hands one client frame to the session. It runs on the connection's read
// goroutine and decodes there; when the actor has MaxInbound frames waiting it
// blocks, which stops reading from this one client (TCP pushes back), until the
// actor catches up or stops.
func (h *Handle) Inbound(b []byte) {
	f, bad := wire.DecodeClientFrame(b)
	select {
	case h.slots <- struct{}{}:
	case <-h.done:
		return
	}
	h.sys.sys.Root.Send(h.pid.Load(), &inbound{frame: f, bad: bad})
}

// PeerClosed is the single teardown point, called from gws OnClose: the connection
// is gone, whoever closed it.
func (h *Handle) PeerClosed() {
	h.peerClosed.Store(true)
	releaseAll(h.out.close())
	h.sys.sys.Root.Poison(h.pid.Load())
}

func (h *Handle) closeWith(code uint16, reason string) {
	h.sys.sys.Root.Send(h.pid.Load(), &closeReq{code: code, reason: reason})
}

// offer queues p for the session; called by directory shards. It reports whether
// the session's writer must be woken, which the shard does once its whole batch is
// queued.
func (h *Handle) offer(ctx actor.Context, p *wire.Push, written *tracker) bool {
	written.add()
	res, dropped := h.out.push(outItem{push: p, written: written})
	switch res {
	case wakeUp:
		return true
	case closed:
		written.release()
	case overflow:
		releaseAll(dropped)
		written.release()
		if h.overflowed.CompareAndSwap(false, true) {
			h.sys.deps.Metrics.SlowClosed.Inc()
			ctx.Send(h.pid.Load(), &closeReq{code: wire.CloseSlowConsumer, reason: "slow consumer: over the unsent byte budget"})
		}
	}
	return false
}
