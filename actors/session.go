package actors

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-push/herald/wire"
)

// SessionSpec is what the gateway knows of a new session.
type SessionSpec struct {
	ID       string
	User     string
	Device   string
	Since    wire.Offset // the client's resume point ...
	HasSince bool        // ... when it gave one
	Expiry   time.Time   // the token's expiry; the session is closed with 4001 then
	Topics   []string    // the token's topics: subscribed from the start, and allowed
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
	overLimit struct{}
	// attachReady: where a subscription starts (since), known.
	attachReady struct {
		r      wire.Recipient
		gen    int
		since  wire.Offset
		resume bool
	}
	// presenceReady: Redis lists this node for r.
	presenceReady struct{ r wire.Recipient }
	// replayDone: r's history after since was written.
	replayDone struct {
		r        wire.Recipient
		gen      int
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
	h.pingAt.Store(time.Now().Add(firstPing(s.cfg.PingInterval)).UnixNano())
	if !spec.Expiry.IsZero() {
		h.expireAt.Store(spec.Expiry.UnixNano())
	}
	s.spawnMu.Lock()
	s.spawning = &session{sys: s, h: h, spec: spec, sock: sock}
	h.pid.Store(s.sys.Root.Spawn(s.sessionProps))
	s.spawning = nil
	s.spawnMu.Unlock()
	return h, nil
}

// newSessionProps is the one Props every session actor is spawned from: a Props per
// session (its producer closing over the session) cost ~400 B of every idle
// connection. protoactor calls the producer inside Spawn, which Open serializes,
// and the producer takes the session Open prepared. Sessions are never restarted
// (the guardian stops them), so the producer runs once per Spawn.
func (s *System) newSessionProps() *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		if s.spawning == nil {
			return stoppedActor{} // not reached: only Open spawns with these props
		}
		return s.spawning
	}, actor.WithGuardian(s.guardian), actor.WithDispatcher(s.dispatch), actor.WithMailbox(newMailbox))
}

// stoppedActor ignores everything.
type stoppedActor struct{}

func (stoppedActor) Receive(actor.Context) {}

// session is the actor of one connection. It owns the connection's writes of live
// pushes and its subscriptions: the user's stream, and topics.
type session struct {
	sys     *System
	h       *Handle
	spec    SessionSpec
	sock    Socket
	self    *actor.PID
	root    *actor.RootContext
	subs    subSet
	gen     int       // numbers subscription attempts, to spot stale replies
	taken   []outItem // taken from the outbox and not yet released
	closing bool      // this side started the close
	// send and publish frames
	upRefs     map[string]*upOp
	upInflight int
	upRate     rateWindow
	frameRate  rateWindow // every client frame, limits.frames_per_second
}

func (s *session) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case wake:
		s.flush()
	case *inbound:
		s.handleInbound(c, m)
		<-s.h.slots
	case *actor.Started:
		s.start(c)
	case overLimit:
		s.sys.deps.Metrics.LimitClosed.Inc()
		s.close(wire.CloseTooManySessions, "too many sessions for this user")
	case *attachReady:
		s.attached(c, m)
	case presenceReady:
		s.startReplay(m.r)
	case *replayDone:
		s.goLive(m)
	case *upDone:
		s.upstreamDone(m)
	case pingTick:
		_ = s.sock.Ping() // a failed ping closed the connection: the session stops
	case *closeReq:
		s.close(m.code, m.reason)
	case *actor.Stopping:
		s.stopping(c)
	}
}

func (s *session) start(c actor.Context) {
	s.self, s.root = c.Self(), c.ActorSystem().Root
	s.h.pid.Store(s.self)
	s.subs.user = s.h.user
	s.sys.deps.Metrics.Sessions.Inc()
	self, root := s.self, s.root
	user := s.subscribe(c, s.h.user)
	for _, t := range s.spec.Topics { // the token's server-side subscriptions
		if wire.ValidName(t) == nil && s.subs.get(wire.Topic(t)) == nil {
			s.subscribeTopic(c, wire.Topic(t), wire.Offset{}, false)
		}
	}
	ctx, spec, gen := user.ctx, s.spec, user.gen
	s.sys.goAttach(func() {
		if !s.sys.acquireSlot(ctx, s.h) {
			root.Send(self, overLimit{})
			return
		}
		if ready, ok := s.sys.resumePoint(ctx, spec); ok {
			ready.gen = gen
			root.Send(self, ready)
		}
	})
}

// firstPing is when a new session first pings its client: at a random point of the
// second half of the interval, then every interval (the user's directory shard
// sends the pings, see shard.clock). Sessions opened together (the
// clients of a failed node reconnecting, a load test) would otherwise ping
// together for as long as they live: 10,000 pings and pongs in the same second.
func firstPing(interval time.Duration) time.Duration {
	return interval/2 + rand.N(interval/2+1)
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

func (s *session) handleInbound(c actor.Context, m *inbound) {
	if s.closing {
		return
	}
	f := m.frame
	if m.bad != nil {
		f = wire.ClientFrame{Ref: m.bad.Ref, Topic: m.bad.Topic}
	}
	if !s.allow(&s.frameRate, s.sys.cfg.FramesPerSecond, f, "over limits.frames_per_second") {
		return
	}
	if m.bad != nil {
		s.sys.deps.Metrics.BadFrames.Inc()
		_ = s.sock.WriteText(m.bad.Bytes())
		return
	}
	if s.sys.cfg.OnFrame != nil {
		s.sys.cfg.OnFrame(f)
	}
	switch f.Type {
	case wire.TypeAck:
		s.ack(f)
	case wire.TypeSubscribe:
		s.clientSubscribe(c, f)
	case wire.TypeUnsubscribe:
		s.clientUnsubscribe(c, f)
	case wire.TypeSend, wire.TypePublish:
		s.upstream(f)
	}
}

func (s *session) ack(f wire.ClientFrame) {
	if f.Topic != "" {
		return // a topic ack only says the client handled it; nothing is stored
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
	s.sys.releaseSlot(s.h) // before the close frame: the client may reconnect at once
	s.sock.Close(code, reason)
}

// stopping releases everything the session holds. It runs once, whether the
// connection closed, the node drained, or the session's handling panicked.
func (s *session) stopping(c actor.Context) {
	releaseAll(s.taken)
	s.taken = nil
	releaseAll(s.h.out.close())
	for _, r := range s.subs.all() {
		s.drop(c, r, s.subs.get(r))
	}
	s.sys.releaseSlot(s.h)
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
