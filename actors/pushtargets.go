package actors

import (
	"context"

	"github.com/herald-push/herald/wire"
)

// maxTargetInflight bounds a session's register, unregister and targets frames
// waiting for Redis (the one sent and those queued behind it): a client has one
// target per kind to register, so a few are plenty, and a client that queues
// more only loads Redis.
const maxTargetInflight = 4

// Outcomes of a register frame, the outcome label of herald_push_registrations_total.
const (
	regStored      = "registered"
	regBadTarget   = "bad_target"
	regNoDevice    = "no_device"
	regRateLimited = "rate_limited"
	regUnavailable = "unavailable"
)

// targetDone: Redis answered a register, unregister or targets frame.
// targetRequests are a session's push target frames: the one at the head of
// queue is with Redis, the others wait for it.
type targetRequests struct {
	queue []wire.ClientFrame
	rate  rateWindow
}

type targetDone struct {
	f    wire.ClientFrame
	list []wire.RegisteredTarget // targets
	err  error
}

// pushTarget serves register, unregister and targets frames (docs/PROTOCOL.md
// section 9): rate limit, checks, then the Redis call off the actor's goroutine,
// answered by ref once Redis has answered.
func (s *session) pushTarget(f wire.ClientFrame) {
	if s.targets == nil {
		s.targets = &targetRequests{}
	}
	t := s.targets
	if !s.allow(&t.rate, s.sys.cfg.TargetsPerSecond, f, "over the session's limit of push target requests per second; retry later") {
		s.countRegistration(f, regRateLimited)
		return
	}
	if code, reason, outcome := s.checkTarget(f); code != "" {
		s.countRegistration(f, outcome)
		s.refuse(f, code, reason)
		return
	}
	if len(t.queue) >= maxTargetInflight {
		s.countRegistration(f, regRateLimited)
		s.refuse(f, wire.CodeRateLimited, "too many push target requests waiting for storage; retry when they are answered")
		return
	}
	t.queue = append(t.queue, f)
	if len(t.queue) == 1 {
		s.goTarget(f)
	}
}

// checkTarget says why f cannot be served (an error code, its reason and the
// registration outcome), or nothing.
func (s *session) checkTarget(f wire.ClientFrame) (code, reason, outcome string) {
	if s.sys.deps.PushTargets == nil {
		return wire.CodeUnavailable, "push targets are not stored on this node", regUnavailable
	}
	if f.Type == wire.TypeTargets {
		return "", "", ""
	}
	if s.spec.Device == "" {
		return wire.CodeForbidden, "a push target belongs to a device: connect with a token that has a device claim, or with ?device=", regNoDevice
	}
	if f.Type == wire.TypeRegister {
		if err := f.Target.Validate(s.sys.cfg.AllowHTTPPush); err != nil {
			return wire.CodeBadFrame, "bad target: " + err.Error(), regBadTarget
		}
	}
	return "", "", ""
}

// goTarget runs f's Redis call on a goroutine of its own and sends the answer
// back to the actor as targetDone. A session's calls run one at a time, in the
// order of its frames: a register followed by an unregister of the same kind
// must leave nothing stored.
func (s *session) goTarget(f wire.ClientFrame) {
	self, root, store, user, device := s.self, s.root, s.sys.deps.PushTargets, s.spec.User, s.spec.Device
	s.sys.goAttach(func() {
		ctx, cancel := context.WithTimeout(context.Background(), upstreamTimeout)
		defer cancel()
		done := &targetDone{f: f}
		switch f.Type {
		case wire.TypeRegister:
			done.err = store.Put(ctx, user, device, *f.Target)
		case wire.TypeUnregister:
			done.err = store.Remove(ctx, user, device, f.Kind)
		default:
			done.list, done.err = store.List(ctx, user)
		}
		root.Send(self, done)
	})
}

// targetAnswered answers the frame: registered, unregistered or targets, or a
// retryable error when Redis failed (nothing changed, or the change is repeated
// harmlessly by a retry).
func (s *session) targetAnswered(m *targetDone) {
	t := s.targets
	t.queue = t.queue[1:]
	if len(t.queue) > 0 {
		s.goTarget(t.queue[0])
	}
	if m.err != nil {
		s.countRegistration(m.f, regUnavailable)
		s.refuse(m.f, wire.CodeUnavailable, "Redis unavailable: retry later")
		return
	}
	s.countRegistration(m.f, regStored)
	switch m.f.Type {
	case wire.TypeRegister:
		_ = s.sock.WriteText(refFrame("registered", m.f.Ref))
	case wire.TypeUnregister:
		_ = s.sock.WriteText(refFrame("unregistered", m.f.Ref))
	default:
		_ = s.sock.WriteText(targetsFrame(m.f.Ref, m.list))
	}
}

// countRegistration counts a register frame's outcome by the target's kind.
func (s *session) countRegistration(f wire.ClientFrame, outcome string) {
	if f.Type != wire.TypeRegister {
		return
	}
	kind := "unknown"
	if f.Target != nil && wire.ValidKind(f.Target.Kind) {
		kind = f.Target.Kind
	}
	s.sys.deps.Metrics.Registrations.WithLabelValues(kind, outcome).Inc()
}
