package actors

import (
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
	TokenID  string      // the token's jti (empty: none), for revocations
	IssuedAt int64       // the token's iat, unix s (0: none), for revocations
	OpenedMs int64       // set by Open: when the session opened, unix ms
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
	// presenceReady: Redis lists this node for r, as asked by subscription gen (a
	// subscription replaced meanwhile must not start its successor's replay).
	presenceReady struct {
		r   wire.Recipient
		gen int
	}
	// replayDone: r's history after since was written.
	replayDone struct {
		r        wire.Recipient
		gen      int
		last     wire.Offset
		complete bool
	}
)

// session is the actor of one connection. It owns the connection's writes of live
// pushes and its subscriptions: the user's stream, and topics.
type session struct {
	sys       *System
	h         *Handle
	spec      SessionSpec
	sock      Socket
	self      *actor.PID
	root      *actor.RootContext
	subs      subSet
	gen       int        // numbers subscription attempts, to spot stale replies
	taken     []outItem  // taken from the outbox and not yet released
	closing   bool       // this side started the close
	frameRate rateWindow // every client frame, limits.frames_per_second
	// up serves send and publish frames; nil until the first, like targets.
	up *upstreamState
	// targets serves register, unregister and targets frames; nil until the
	// first, since most sessions never send one and idle memory is per session.
	targets *targetRequests
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
		s.startReplay(m)
	case *replayDone:
		s.goLive(m)
	case *upDone:
		s.upstreamDone(m)
	case *targetDone:
		s.targetAnswered(m)
	case pingTick:
		_ = s.sock.Ping() // a failed ping closed the connection: the session stops
	case *closeReq:
		s.close(m.code, m.reason)
	case *closeIf:
		s.closeIf(m)
	case *actor.Stopping:
		s.stopping(c)
	}
}

func (s *session) start(c actor.Context) {
	s.self, s.root = c.Self(), c.ActorSystem().Root
	s.h.pid.Store(s.self)
	s.subs.user = s.h.user
	s.sys.deps.Metrics.Sessions.Inc()
	s.sys.open.Add(1)
	if s.sys.deps.Index != nil {
		s.sys.deps.Index.Opened(s.spec.User, s.spec.ID, s.spec.Device, time.UnixMilli(s.spec.OpenedMs))
	}
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
	case wire.TypeRegister, wire.TypeUnregister, wire.TypeTargets:
		s.pushTarget(f)
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
	s.sys.open.Add(-1)
	s.h.unlisted.Store(true) // before Closed: SessionInfo.Gone must not miss it
	if s.sys.deps.Index != nil {
		s.sys.deps.Index.Closed(s.spec.User, s.spec.ID)
	}
	if !s.closing && !s.h.peerClosed.Load() {
		s.sock.Close(wire.CloseInternal, "internal error")
	}
	close(s.h.done)
}

func (s *session) refuse(f wire.ClientFrame, code, reason string) {
	e := wire.Errorf(code, "%s", reason)
	e.Topic, e.Ref = f.Topic, f.Ref
	_ = s.sock.WriteText(e.Bytes())
}
