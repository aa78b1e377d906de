package actors

import "github.com/herald-push/herald/wire"

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
