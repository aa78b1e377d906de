package actors

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-push/herald/gateway/wire"
)

// SessionSpec is what the gateway knows of a new session.
type SessionSpec struct {
	ID       string
	User     string
	Device   string
	Since    wire.Offset // the client's resume point ...
	HasSince bool        // ... when it gave one
	Expiry   time.Time   // the token's expiry; the session is closed with 4001 then
}

// Session actor messages.
type (
	inbound struct {
		frame wire.ClientFrame
		bad   *wire.ErrorFrame
	}
	wake     struct{}
	pingTick struct{}
	closeReq struct {
		code   uint16
		reason string
	}
	attachReady struct {
		since  wire.Offset
		resume bool
	}
	overLimit     struct{}
	presenceReady struct{}
	replayDone    struct {
		last     wire.Offset
		complete bool
	}
)

// Open spawns the session actor for a new connection.
func (s *System) Open(spec SessionSpec, sock Socket) (*Handle, error) {
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped {
		return nil, ErrStopped
	}
	h := &Handle{
		sys: s, id: spec.ID, user: wire.User(spec.User),
		slots: make(chan struct{}, s.cfg.MaxInbound),
		done:  make(chan struct{}),
	}
	h.out.limit = s.cfg.MaxPendingBytes
	h.sock.Store(&sock)
	props := actor.PropsFromProducer(func() actor.Actor {
		return &session{sys: s, h: h, spec: spec, sock: sock}
	}, actor.WithGuardian(s.guardian))
	h.pid.Store(s.sys.Root.Spawn(props))
	return h, nil
}

// session is the actor of one connection. It owns the connection's writes of live
// pushes; until its replay from history is done, pushes wait in its outbox.
type session struct {
	sys     *System
	h       *Handle
	spec    SessionSpec
	sock    Socket
	ctx     context.Context
	cancel  context.CancelFunc
	since   wire.Offset
	resume  bool
	live    bool        // replay done: pushes are written as they come
	closing bool        // this side started the close
	last    wire.Offset // newest user-stream offset written
	expiry  *time.Timer
	pinger  *time.Timer
	taken   []outItem // taken from the outbox and not yet released
}

func (s *session) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case wake:
		if s.live {
			s.flush()
		}
	case *inbound:
		s.handleInbound(m)
		<-s.h.slots
	case *actor.Started:
		s.start(c)
	case overLimit:
		s.sys.deps.Metrics.LimitClosed.Inc()
		s.close(wire.CloseTooManySessions, "too many sessions for this user")
	case *attachReady:
		s.since, s.resume = m.since, m.resume
		if err := s.sock.WriteText(wire.Welcome(s.spec.ID, s.sys.cfg.Node, s.spec.User, s.since)); err != nil {
			return // the connection is gone; OnClose tears down
		}
		c.Send(s.sys.shardOf(s.h.user), &announce{r: s.h.user, h: s.h})
	case presenceReady:
		s.startReplay(c)
	case *replayDone:
		s.goLive(m)
	case pingTick:
		if s.sock.Ping() == nil {
			s.pinger.Reset(s.sys.cfg.PingInterval)
		}
	case *closeReq:
		s.close(m.code, m.reason)
	case *actor.Stopping:
		s.stopping(c)
	}
}

func (s *session) start(c actor.Context) {
	self := c.Self()
	s.h.pid.Store(self)
	root := c.ActorSystem().Root
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.sys.deps.Metrics.Sessions.Inc()
	if !s.spec.Expiry.IsZero() {
		s.expiry = time.AfterFunc(time.Until(s.spec.Expiry), func() {
			s.sys.deps.Metrics.ExpiryClosed.Inc()
			root.Send(self, &closeReq{code: wire.CloseTokenExpired, reason: "token expired"})
		})
	}
	s.pinger = time.AfterFunc(s.sys.cfg.PingInterval, func() { root.Send(self, pingTick{}) })
	c.Send(s.sys.shardOf(s.h.user), &register{r: s.h.user, h: s.h})
	ctx, spec := s.ctx, s.spec
	s.sys.goAttach(func() {
		if !s.sys.acquireSlot(ctx, s.h) {
			root.Send(self, overLimit{})
			return
		}
		if ready, ok := s.sys.resumePoint(ctx, spec); ok {
			root.Send(self, ready)
		}
	})
}

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

// resumePoint decides where the session starts: the client's since, else its
// device's cursor, else the history top noted before presence is registered (so that
// a push routed while registering is replayed, not missed).
func (s *System) resumePoint(ctx context.Context, spec SessionSpec) (*attachReady, bool) {
	if spec.HasSince {
		return &attachReady{since: spec.Since, resume: true}, true
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
			return &attachReady{since: cur, resume: true}, true
		}
	}
	var top wire.Offset
	ok := retry(ctx, func() (err error) {
		top, err = s.deps.History.Top(ctx, wire.User(spec.User))
		return err
	})
	return &attachReady{since: top}, ok
}

func (s *session) startReplay(c actor.Context) {
	self, root := c.Self(), c.ActorSystem().Root
	ctx, user, since := s.ctx, s.h.user, s.since
	s.sys.goAttach(func() {
		last, complete := since, false
		ok := retry(ctx, func() (err error) {
			var l wire.Offset
			l, complete, err = s.sys.deps.History.Replay(ctx, user, last, func(ps []*wire.Push) error {
				s.sys.deps.Metrics.Replayed.Add(float64(len(ps)))
				return s.sys.writePushes(s.sock, ps)
			})
			if last.Less(l) {
				last = l
			}
			return err
		})
		if ok {
			root.Send(self, &replayDone{last: last, complete: complete})
		}
	})
}

func (s *session) goLive(m *replayDone) {
	if s.resume {
		if err := s.sock.WriteText(wire.Recovered(s.h.user, m.complete)); err != nil {
			return
		}
	}
	if s.last.Less(m.last) {
		s.last = m.last
	}
	s.live = true
	s.flush()
}

// flush writes everything waiting in the outbox, coalesced, skipping what the
// replay already sent and what expired.
func (s *session) flush() {
	for {
		s.taken = s.h.out.take(s.taken[:0])
		if len(s.taken) == 0 {
			if cap(s.taken) > 256 {
				s.taken = nil
			}
			return
		}
		err := s.writeTaken()
		releaseAll(s.taken)
		clear(s.taken)
		s.taken = s.taken[:0]
		if err != nil {
			return // gws closed the connection; OnClose tears down
		}
	}
}

func (s *session) writeTaken() error {
	now := s.sys.nowMs()
	pushes := make([]*wire.Push, 0, len(s.taken))
	for _, it := range s.taken {
		p := it.push
		if p.Expired(now) || !s.last.Less(p.Offset) {
			continue
		}
		s.last = p.Offset
		pushes = append(pushes, p)
		s.sys.deps.Metrics.Latency.Observe(float64(now-p.TS) / 1000)
	}
	return s.sys.writePushes(s.sock, pushes)
}

// writePushes writes push frames, several to a WebSocket message separated by "\n"
// (PROTOCOL.md section 4), up to MaxMessageBytes a message.
func (s *System) writePushes(sock Socket, pushes []*wire.Push) error {
	if len(pushes) == 0 {
		return nil
	}
	parts := s.getParts()
	defer s.putParts(parts)
	size := 0
	for _, p := range pushes {
		if size > 0 && size+len(p.Frame) > s.cfg.MaxMessageBytes {
			if err := s.writeParts(sock, *parts, size); err != nil {
				return err
			}
			clear(*parts)
			*parts, size = (*parts)[:0], 0
		}
		if size > 0 {
			*parts = append(*parts, newline)
			size++
		}
		*parts = append(*parts, p.Frame)
		size += len(p.Frame)
	}
	return s.writeParts(sock, *parts, size)
}

var newline = []byte{'\n'}

func (s *System) writeParts(sock Socket, parts [][]byte, _ int) error {
	if err := sock.WriteText(parts...); err != nil {
		s.deps.Metrics.WriteErrors.Inc()
		return err
	}
	s.deps.Metrics.PushesOut.Add(float64((len(parts) + 1) / 2))
	return nil
}

func (s *session) handleInbound(m *inbound) {
	if m.bad != nil {
		s.sys.deps.Metrics.BadFrames.Inc()
		_ = s.sock.WriteText(m.bad.Bytes())
		return
	}
	f := m.frame
	if s.sys.cfg.OnFrame != nil {
		s.sys.cfg.OnFrame(f)
	}
	switch f.Type {
	case wire.TypeAck:
		s.ack(f)
	default:
		e := wire.Errorf(wire.CodeNotSupported, "%s is not supported by this node yet", f.Type)
		e.Topic, e.Ref = f.Topic, f.Ref
		_ = s.sock.WriteText(e.Bytes())
	}
}

func (s *session) ack(f wire.ClientFrame) {
	if f.Topic != "" {
		return
	}
	o := wire.MustOffset(f.Offset)
	if s.sys.deps.Acks != nil {
		s.sys.deps.Acks.Ack(s.spec.User, o)
	}
	if s.spec.Device != "" {
		s.sys.deps.Cursors.Set(s.spec.User, s.spec.Device, o)
	}
}

func (s *session) close(code uint16, reason string) {
	if s.closing || s.h.peerClosed.Load() {
		return
	}
	s.closing = true
	releaseAll(s.h.out.close())
	s.sock.Close(code, reason)
}

// stopping releases everything the session holds. It runs once, whether the
// connection closed, the node drained, or the session's handling panicked.
func (s *session) stopping(c actor.Context) {
	if s.cancel != nil {
		s.cancel()
	}
	if s.expiry != nil {
		s.expiry.Stop()
	}
	if s.pinger != nil {
		s.pinger.Stop()
	}
	releaseAll(s.taken)
	s.taken = nil
	releaseAll(s.h.out.close())
	s.sys.releaseSlot(s.h)
	c.Send(s.sys.shardOf(s.h.user), &unregister{r: s.h.user, h: s.h})
	s.sys.deps.Metrics.Sessions.Dec()
	if !s.closing && !s.h.peerClosed.Load() {
		s.sock.Close(wire.CloseInternal, "internal error")
	}
	close(s.h.done)
}

// retry runs f until it succeeds or ctx ends, with capped backoff: a session waits
// out a Redis outage instead of failing. It reports whether f succeeded.
func retry(ctx context.Context, f func() error) bool {
	wait := 50 * time.Millisecond
	for {
		if f() == nil {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		if wait *= 2; wait > 2*time.Second {
			wait = 2 * time.Second
		}
	}
}
