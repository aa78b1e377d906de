package actors

import "github.com/herald-push/herald/wire"

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
// (docs/PROTOCOL.md section 4), up to MaxMessageBytes a message.
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

func (s *System) getParts() *[][]byte {
	if p, ok := s.parts.Get().(*[][]byte); ok {
		return p
	}
	p := make([][]byte, 0, 64)
	return &p
}

func (s *System) putParts(p *[][]byte) {
	clear(*p)
	*p = (*p)[:0]
	s.parts.Put(p)
}
