package actors

import (
	"context"
	"errors"
	"time"

	"github.com/herald-push/herald/wire"
)

// upstreamTimeout bounds one send or publish: with Redis away the client gets a
// retryable error instead of a hanging request.
const upstreamTimeout = 2 * time.Second

// maxUpInflight bounds a session's sends and publishes waiting for Redis.
const maxUpInflight = 8

// upOp is one send or publish by ref: in flight, or stored with its entry id.
type upOp struct {
	id      string
	at      time.Time
	waiters int // resends of the same ref that arrived while it was in flight
	done    bool
}

// upDone: Redis answered a send or publish.
type upDone struct {
	ref string
	id  string
	err error
}

// upstreamState is a session's send and publish requests: refs answered or in
// flight within the dedupe window, and the rate limit.
type upstreamState struct {
	refs     map[string]*upOp
	inflight int
	rate     rateWindow
}

// upstream serves send and publish frames: rate limit, dedupe by ref within the
// window, policy for publish, then the append off the actor's goroutine.
func (s *session) upstream(f wire.ClientFrame) {
	if s.up == nil {
		s.up = &upstreamState{refs: make(map[string]*upOp)}
	}
	u := s.up
	if !s.allowUp(f) {
		return
	}
	if op, ok := u.refs[f.Ref]; ok && time.Since(op.at) < s.sys.cfg.RefWindow {
		if op.done {
			_ = s.sock.WriteText(sentFrame(f.Ref, op.id))
		} else {
			op.waiters++
		}
		return
	}
	if f.Type == wire.TypePublish {
		if pol := s.sys.cfg.Policy; pol == nil || !pol.CanPublish(s.spec.User, f.Topic) {
			s.refuse(f, wire.CodeForbidden, "the topic policy does not let this user publish on "+f.Topic)
			return
		}
	}
	if u.inflight >= maxUpInflight {
		s.refuse(f, wire.CodeRateLimited, "too many sends waiting for storage; retry with the same ref")
		return
	}
	s.pruneRefs()
	u.refs[f.Ref] = &upOp{at: time.Now()}
	u.inflight++
	s.goUp(f)
}

func (s *session) goUp(f wire.ClientFrame) {
	self, root, up, spec, node := s.self, s.root, s.sys.deps.Upstream, s.spec, s.sys.cfg.Node
	s.sys.goAttach(func() {
		ctx, cancel := context.WithTimeout(context.Background(), upstreamTimeout)
		defer cancel()
		var id string
		var err error
		if f.Type == wire.TypeSend {
			id, err = up.Send(ctx, wire.UpMessage{User: spec.User, Device: spec.Device, Session: spec.ID, Node: node,
				Ref: f.Ref, TS: time.Now().UnixMilli(), Data: f.Data})
		} else {
			id, err = up.Publish(ctx, f.Topic, spec.User, f.Data)
		}
		root.Send(self, &upDone{ref: f.Ref, id: id, err: err})
	})
}

// upstreamDone answers the request and its resends: sent with the entry id, or a
// retryable error (nothing was stored, so a resend with the same ref is safe).
func (s *session) upstreamDone(m *upDone) {
	u := s.up
	u.inflight--
	op := u.refs[m.ref]
	if op == nil {
		return
	}
	answers := 1 + op.waiters
	op.waiters = 0
	if m.err != nil {
		delete(u.refs, m.ref) // not stored: a resend must try again
		code, reason := wire.CodeUnavailable, "not stored, Redis unavailable: retry with the same ref"
		var rej rejection
		if errors.As(m.err, &rej) && rej.Rejected() {
			code, reason = wire.CodeBadFrame, m.err.Error()
		}
		for i := 0; i < answers; i++ {
			e := wire.Errorf(code, "%s", reason)
			e.Ref = m.ref
			_ = s.sock.WriteText(e.Bytes())
		}
		return
	}
	op.id, op.done = m.id, true
	for i := 0; i < answers; i++ {
		_ = s.sock.WriteText(sentFrame(m.ref, m.id))
	}
}

// allowUp applies limits.upstream_per_second.
func (s *session) allowUp(f wire.ClientFrame) bool {
	return s.allow(&s.up.rate, s.sys.cfg.UpstreamPerSecond, f, "over limits.upstream_per_second; retry later with the same ref")
}

// pruneRefs forgets refs older than the window, keeping the map bounded by the
// rate limit times the window.
func (s *session) pruneRefs() {
	if len(s.up.refs) < 64 {
		return
	}
	for ref, op := range s.up.refs {
		if op.done && time.Since(op.at) >= s.sys.cfg.RefWindow {
			delete(s.up.refs, ref)
		}
	}
}
