package actors

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-push/herald/gateway/wire"
)

// sub is one stream a session receives: its user's, or a topic's. Until its replay
// from history is done, live pushes for it wait in its stash (counted against the
// session's byte budget); then it is live and pushes are written as they come,
// skipping what the replay already sent (by offset).
type sub struct {
	gen        int
	ctx        context.Context
	cancel     context.CancelFunc // stops its attach and replay goroutines
	last       wire.Offset        // newest offset written
	floor      wire.Offset        // everything up to here was written (the replay's end)
	recent     *offsetRing        // offsets written lately, once live pushes flow
	resume     bool               // the client asked to resume: end the replay with recovered
	live       bool
	stash      []outItem
	stashBytes int
	// held is a live-only topic's subscribed frame, written once this node is in
	// the topic's presence: with no history to replay, a push routed before that
	// would not reach the session, and subscribed promises every push after it.
	held []byte
}

// subSet is a session's subscriptions: the user's stream apart (every session has
// it) and topics in a map made on the first one, so that a session without topics
// holds no map (idle memory per connection, bench/RESULTS.md).
type subSet struct {
	user   wire.Recipient
	mine   *sub
	topics map[wire.Recipient]*sub
}

func (ss *subSet) get(r wire.Recipient) *sub {
	if r == ss.user {
		return ss.mine
	}
	return ss.topics[r]
}

func (ss *subSet) set(r wire.Recipient, sb *sub) {
	if r == ss.user {
		ss.mine = sb
		return
	}
	if ss.topics == nil {
		ss.topics = make(map[wire.Recipient]*sub)
	}
	ss.topics[r] = sb
}

func (ss *subSet) remove(r wire.Recipient) {
	if r == ss.user {
		ss.mine = nil
		return
	}
	delete(ss.topics, r)
	if len(ss.topics) == 0 {
		ss.topics = nil
	}
}

// topicCount counts the topic subscriptions.
func (ss *subSet) topicCount() int { return len(ss.topics) }

// all lists every subscription, for a loop that may remove them.
func (ss *subSet) all() []wire.Recipient {
	rs := make([]wire.Recipient, 0, 1+len(ss.topics))
	if ss.mine != nil {
		rs = append(rs, ss.user)
	}
	for r := range ss.topics {
		rs = append(rs, r)
	}
	return rs
}

// subscribe starts receiving r: registered in the directory at once, so that live
// pushes are stashed from now on; attached (and replayed) once its start is known.
func (s *session) subscribe(c actor.Context, r wire.Recipient) *sub {
	s.gen++
	// Not derived from a session context: stopping cancels every subscription, and
	// a live one lets go of its context (an idle session holds none).
	ctx, cancel := context.WithCancel(context.Background())
	sb := &sub{gen: s.gen, ctx: ctx, cancel: cancel}
	s.subs.set(r, sb)
	c.Send(s.sys.shardOf(r), &register{r: r, h: s.h})
	return sb
}

// drop stops receiving r and releases what its stash held.
func (s *session) drop(c actor.Context, r wire.Recipient, sb *sub) {
	sb.stop()
	releaseAll(sb.stash)
	s.addStashed(-sb.stashBytes)
	sb.stash, sb.stashBytes = nil, 0
	s.subs.remove(r)
	c.Send(s.sys.shardOf(r), &unregister{r: r, h: s.h})
}

// current is r's subscription if m's generation is still the live one.
func (s *session) current(r wire.Recipient, gen int) *sub {
	sb := s.subs.get(r)
	if sb == nil || sb.gen != gen {
		return nil // unsubscribed or resubscribed meanwhile
	}
	return sb
}

// attached: the start of r is known. The client learns it (welcome for the user's
// stream, subscribed for a topic); then this node is listed in r's presence and,
// once Redis has that, the replay runs (the connect race of DESIGN.md).
func (s *session) attached(c actor.Context, m *attachReady) {
	sb := s.current(m.r, m.gen)
	if sb == nil {
		return
	}
	sb.last, sb.resume = m.since, m.resume
	frame := subscribedFrame(m.r.Name, m.since)
	if m.r == s.h.user {
		frame = wire.Welcome(s.spec.ID, s.sys.cfg.Node, s.spec.User, m.since)
	}
	if s.sys.liveOnly(m.r) {
		sb.held = frame
	} else if err := s.sock.WriteText(frame); err != nil {
		return // the connection is gone; OnClose tears down
	}
	c.Send(s.sys.shardOf(m.r), &announce{r: m.r, h: s.h})
}

// liveOnly reports whether r keeps no history (history.topics), where the
// history reader can tell.
func (s *System) liveOnly(r wire.Recipient) bool {
	lo, ok := s.deps.History.(interface{ LiveOnly(wire.Recipient) bool })
	return ok && lo.LiveOnly(r)
}

func (s *session) startReplay(r wire.Recipient) {
	sb := s.subs.get(r)
	if sb == nil || sb.live {
		return
	}
	self, root, gen, ctx, since, resume := s.self, s.root, sb.gen, sb.ctx, sb.last, sb.resume
	s.sys.goAttach(func() {
		last, complete := since, false
		write := func(ps []*wire.Push) error {
			s.sys.deps.Metrics.Replayed.Add(float64(len(ps)))
			return s.sys.writePushes(s.sock, ps)
		}
		hist := s.sys.deps.History
		ok := retry(ctx, func() (err error) {
			var l wire.Offset
			if resume { // only a client's resume point is judged complete or not
				l, complete, err = hist.Replay(ctx, r, last, write)
			} else {
				l, err = hist.ReplayAfter(ctx, r, last, write)
			}
			if last.Less(l) {
				last = l
			}
			return err
		})
		if ok {
			root.Send(self, &replayDone{r: r, gen: gen, last: last, complete: complete})
		}
	})
}

// goLive ends r's replay: recovered (when resuming), then what waited in the stash.
func (s *session) goLive(m *replayDone) {
	sb := s.current(m.r, m.gen)
	if sb == nil {
		return
	}
	if sb.held != nil {
		if err := s.sock.WriteText(sb.held); err != nil {
			return
		}
		sb.held = nil
	}
	if sb.resume {
		if err := s.sock.WriteText(wire.Recovered(m.r, m.complete)); err != nil {
			return
		}
	}
	if sb.last.Less(m.last) {
		sb.last = m.last
	}
	sb.floor = sb.last
	sb.live = true
	sb.stop() // its attach and replay are over
	stash := sb.stash
	s.addStashed(-sb.stashBytes)
	sb.stash, sb.stashBytes = nil, 0
	_ = s.writeItems(stash)
	releaseAll(stash)
}

// flush writes everything waiting in the outbox, coalesced.
func (s *session) flush() {
	for {
		s.taken = s.h.out.take(s.taken[:0])
		if len(s.taken) == 0 {
			if cap(s.taken) > 256 {
				s.taken = nil
			}
			return
		}
		err := s.writeItems(s.taken)
		releaseAll(s.taken)
		clear(s.taken)
		s.taken = s.taken[:0]
		if err != nil {
			return // gws closed the connection; OnClose tears down
		}
	}
}

// writeItems writes the pushes of items that are due: of live subscriptions, not
// expired, newer than what was written for their stream. Items of subscriptions
// still replaying move to their stash (their entry in items is cleared, so the
// caller's release skips them).
func (s *session) writeItems(items []outItem) error {
	now := s.sys.nowMs()
	pushes := make([]*wire.Push, 0, len(items))
	for i, it := range items {
		p := it.push
		sb := s.subs.get(p.Recipient)
		switch {
		case sb == nil: // unsubscribed meanwhile
		case !sb.live:
			s.toStash(sb, it)
			items[i].written = nil
		case p.Expired(now) || !sb.due(p.Offset, s.sys.deps.Metrics):
		default:
			pushes = append(pushes, p)
			s.sys.deps.Metrics.Latency.Observe(float64(now-p.TS) / 1000)
		}
	}
	return s.sys.writePushes(s.sock, pushes)
}

// toStash keeps a push for a subscription still replaying. Stashes count against
// the session's byte budget: over it the session is closed as a slow consumer.
func (s *session) toStash(sb *sub, it outItem) {
	size := len(it.push.Frame)
	if int(s.h.out.stashed.Load())+size > s.h.out.limit {
		it.written.release()
		if s.h.overflowed.CompareAndSwap(false, true) {
			s.sys.deps.Metrics.SlowClosed.Inc()
			s.close(wire.CloseSlowConsumer, "slow consumer: over the unsent byte budget")
		}
		return
	}
	sb.stash = append(sb.stash, it)
	sb.stashBytes += size
	s.addStashed(size)
}

// addStashed keeps the session's stash total, which the outbox counts against the
// same budget.
func (s *session) addStashed(n int) {
	s.h.out.stashed.Add(int64(n))
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
			if err := s.writeParts(sock, *parts); err != nil {
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
	return s.writeParts(sock, *parts)
}

var newline = []byte{'\n'}

func (s *System) writeParts(sock Socket, parts [][]byte) error {
	if err := sock.WriteText(parts...); err != nil {
		s.deps.Metrics.WriteErrors.Inc()
		return err
	}
	s.deps.Metrics.PushesOut.Add(float64((len(parts) + 1) / 2))
	return nil
}

// subscribedFrame answers a subscribe; offset is where the subscription starts
// (the client's since, or the topic's history top), so that a client that sees no
// push before it reconnects can still resubscribe from there.
func subscribedFrame(topic string, offset wire.Offset) []byte {
	b := append([]byte(`{"type":"subscribed","topic":`), wire.AppendString(nil, topic)...)
	b = append(b, `,"offset":"`...)
	b = offset.Append(b)
	return append(b, '"', '}')
}

func unsubscribedFrame(topic string) []byte {
	b := append([]byte(`{"type":"unsubscribed","topic":`), wire.AppendString(nil, topic)...)
	return append(b, '}')
}

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

func (s *session) refuse(f wire.ClientFrame, code, reason string) {
	e := wire.Errorf(code, "%s", reason)
	e.Topic, e.Ref = f.Topic, f.Ref
	_ = s.sock.WriteText(e.Bytes())
}

// topics counts the session's topic subscriptions.
func (s *session) topics() int { return s.subs.topicCount() }

// stop ends the subscription's attach and replay goroutines and lets go of their
// context.
func (sb *sub) stop() {
	if sb.cancel != nil {
		sb.cancel()
	}
	sb.ctx, sb.cancel = nil, nil
}

// due decides whether a live push at offset o is written, and records it. Pushes of
// one stream arrive in offset order except around a router failover, when the old
// router's inbox entries can trail the new router's: a push older than the newest
// written is then written late (out of order rather than lost) unless it is one of
// the recent offsets or at or below the floor, which makes it a duplicate.
func (sb *sub) due(o wire.Offset, m *Metrics) bool {
	if sb.recent == nil {
		sb.recent = &offsetRing{}
	}
	if sb.last.Less(o) {
		sb.last = o
		sb.recent.add(o)
		return true
	}
	if !sb.floor.Less(o) || sb.recent.has(o) {
		return false
	}
	m.LatePushes.Inc()
	sb.recent.add(o)
	return true
}

// offsetRing remembers the last offsets written to one stream.
type offsetRing struct {
	offs [64]wire.Offset
	next int
}

func (r *offsetRing) add(o wire.Offset) {
	r.offs[r.next] = o
	r.next = (r.next + 1) % len(r.offs)
}

func (r *offsetRing) has(o wire.Offset) bool {
	for _, x := range r.offs {
		if x == o {
			return true
		}
	}
	return false
}
