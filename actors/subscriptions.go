package actors

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-push/herald/wire"
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

// stop ends the subscription's attach and replay goroutines and lets go of their
// context.
func (sb *sub) stop() {
	if sb.cancel != nil {
		sb.cancel()
	}
	sb.ctx, sb.cancel = nil, nil
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
// once Redis has that, the replay runs (the connect race, docs/ARCHITECTURE.md).
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
	if s.sys.deps.History.LiveOnly(m.r) {
		sb.held = frame
	} else if err := s.sock.WriteText(frame); err != nil {
		return // the connection is gone; OnClose tears down
	}
	c.Send(s.sys.shardOf(m.r), &announce{r: m.r, h: s.h, gen: m.gen})
}

// startReplay replays r's history after where the subscription starts, once Redis
// lists this node in r's presence.
func (s *session) startReplay(m presenceReady) {
	r := m.r
	sb := s.current(r, m.gen)
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
