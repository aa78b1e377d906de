package actors

import (
	"context"
	"errors"
	"time"

	"github.com/herald-push/herald/wire"
)

// Upstream stores what clients send: send frames for backends, publish frames as
// topic pushes. Errors that are a client's fault implement Rejection.
type Upstream interface {
	Send(ctx context.Context, m wire.UpMessage) (string, error)
	Publish(ctx context.Context, topic, from string, data []byte) (string, error)
}

// rejection is how Upstream marks an error as the client's (a bad payload), which
// is not worth a retry; anything else is the node's (Redis) and is retryable.
type rejection interface{ Rejected() bool }

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

// upstream serves send and publish frames: rate limit, dedupe by ref within the
// window, policy for publish, then the append off the actor's goroutine.
func (s *session) upstream(f wire.ClientFrame) {
	if !s.allowUp(f) {
		return
	}
	if op, ok := s.upRefs[f.Ref]; ok && time.Since(op.at) < s.sys.cfg.RefWindow {
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
	if s.upInflight >= maxUpInflight {
		s.refuse(f, wire.CodeRateLimited, "too many sends waiting for storage; retry with the same ref")
		return
	}
	s.pruneRefs()
	s.upRefs[f.Ref] = &upOp{at: time.Now()}
	s.upInflight++
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
	s.upInflight--
	op := s.upRefs[m.ref]
	if op == nil {
		return
	}
	answers := 1 + op.waiters
	op.waiters = 0
	if m.err != nil {
		delete(s.upRefs, m.ref) // not stored: a resend must try again
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
	return s.allow(&s.upRate, s.sys.cfg.UpstreamPerSecond, f, "over limits.upstream_per_second; retry later with the same ref")
}

// allow counts one frame in a one-second window: over limit it is refused with an
// error frame, and after as many refusals again in the same second the session is
// closed with 4003 (PROTOCOL.md: repeated abuse).
func (s *session) allow(w *rateWindow, limit int, f wire.ClientFrame, reason string) bool {
	now := time.Now()
	if now.Sub(w.start) >= time.Second {
		*w = rateWindow{start: now}
	}
	w.count++
	if w.count <= limit {
		return true
	}
	w.refused++
	s.sys.deps.Metrics.RateLimited.Inc()
	if w.refused > limit {
		if !s.closing {
			s.sys.deps.Metrics.PolicyClosed.Inc()
		}
		s.close(wire.ClosePolicy, "too many messages")
		return false
	}
	s.refuse(f, wire.CodeRateLimited, reason)
	return false
}

// rateWindow counts frames in the current second.
type rateWindow struct {
	start          time.Time
	count, refused int
}

// pruneRefs forgets refs older than the window, keeping the map bounded by the
// rate limit times the window.
func (s *session) pruneRefs() {
	if s.upRefs == nil {
		s.upRefs = make(map[string]*upOp)
		return
	}
	if len(s.upRefs) < 64 {
		return
	}
	for ref, op := range s.upRefs {
		if op.done && time.Since(op.at) >= s.sys.cfg.RefWindow {
			delete(s.upRefs, ref)
		}
	}
}

func sentFrame(ref, id string) []byte {
	b := append([]byte(`{"type":"sent","ref":`), wire.AppendString(nil, ref)...)
	b = append(b, `,"id":`...)
	b = wire.AppendString(b, id)
	return append(b, '}')
}
