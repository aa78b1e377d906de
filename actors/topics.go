package actors

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-push/herald/wire"
)

// clientSubscribe serves a subscribe frame: policy, limit, then a subscription that
// replays from since when given. Subscribing again with a since restarts the
// subscription from there (duplicates possible, no gap).
func (s *session) clientSubscribe(c actor.Context, f wire.ClientFrame) {
	r := wire.Topic(f.Topic)
	if pol := s.sys.cfg.Policy; pol != nil && !pol.CanSubscribe(s.spec.User, f.Topic, s.spec.Topics) {
		s.sys.deps.Metrics.SubsRefused.WithLabelValues("forbidden").Inc()
		s.refuse(f, wire.CodeForbidden, "the topic policy does not let this user subscribe to "+f.Topic)
		return
	}
	existing := s.subs.get(r)
	if existing != nil && f.Since == "" {
		_ = s.sock.WriteText(subscribedFrame(f.Topic, existing.last))
		return
	}
	if existing == nil && s.topics() >= s.sys.cfg.MaxSubscriptions {
		s.sys.deps.Metrics.SubsRefused.WithLabelValues("limit").Inc()
		s.refuse(f, wire.CodeLimit, "subscription limit reached")
		return
	}
	if existing != nil {
		s.drop(c, r, existing)
	}
	since, err := wire.ParseOffset(f.Since)
	s.subscribeTopic(c, r, since, err == nil)
}

// subscribeTopic subscribes to r from since (resume) or from its history top.
func (s *session) subscribeTopic(c actor.Context, r wire.Recipient, since wire.Offset, resume bool) {
	sb := s.subscribe(c, r)
	if resume {
		s.attached(c, &attachReady{r: r, gen: sb.gen, since: since, resume: true})
		return
	}
	self, root, gen, ctx := s.self, s.root, sb.gen, sb.ctx
	s.sys.goAttach(func() {
		if ready, ok := s.sys.topPoint(ctx, r); ok {
			ready.gen = gen
			root.Send(self, ready)
		}
	})
}

func (s *session) clientUnsubscribe(c actor.Context, f wire.ClientFrame) {
	r := wire.Topic(f.Topic)
	if sb := s.subs.get(r); sb != nil {
		s.drop(c, r, sb)
	}
	_ = s.sock.WriteText(unsubscribedFrame(f.Topic))
}

// topics counts the session's topic subscriptions.
func (s *session) topics() int { return s.subs.topicCount() }
