package actors

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-push/herald/wire"
)

// Directory messages.
type (
	register struct {
		r wire.Recipient
		h *Handle
	}
	unregister struct {
		r wire.Recipient
		h *Handle
	}
	// announce asks the shard to list this node in r's presence for h, and to tell
	// h when Redis has it (the connect race, docs/ARCHITECTURE.md). gen is the
	// subscription's, echoed in presenceReady.
	announce struct {
		r   wire.Recipient
		h   *Handle
		gen int
	}
	deliver struct {
		pushes   []*wire.Push
		accepted *tracker
		written  *tracker
	}
	listSessions struct{}
	// clockTick: time to ping the sessions due and close those whose token expired.
	clockTick struct{ now int64 }
)

// shard is one directory actor: recipients to the local sessions, for its share of
// recipients.
type shard struct {
	sys    *System
	byRcpt map[wire.Recipient][]*Handle
	woken  []*Handle // deliver's scratch: sessions to wake after the batch
}

func newShard(s *System) *shard {
	return &shard{sys: s, byRcpt: make(map[wire.Recipient][]*Handle)}
}

func (d *shard) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *deliver:
		d.deliver(ctx, m)
	case *register:
		d.byRcpt[m.r] = append(d.byRcpt[m.r], m.h)
		d.counted(m.r)
	case *closeMatching:
		d.closeMatching(ctx, m)
	case *announce:
		d.announce(ctx, m)
	case *unregister:
		d.unregister(m)
	case clockTick:
		d.clock(ctx, m.now)
	case *listSessions:
		var hs []*Handle
		for _, list := range d.byRcpt {
			hs = append(hs, list...)
		}
		ctx.Respond(hs)
	}
}

func (d *shard) deliver(ctx actor.Context, m *deliver) {
	for _, p := range m.pushes {
		for _, h := range d.byRcpt[p.Recipient] {
			if h.offer(ctx, p, m.written) {
				d.woken = append(d.woken, h)
			}
		}
	}
	// Waking a session only once the whole batch is queued lets it write all of its
	// pushes of the batch in one message, not the first alone while the rest queue.
	for i, h := range d.woken {
		ctx.Send(h.pid.Load(), wake{})
		d.woken[i] = nil
	}
	d.woken = d.woken[:0]
	if cap(d.woken) > 1<<16 {
		d.woken = nil // keep a 10,000-subscriber topic's scratch, not a burst's beyond it
	}
	m.accepted.release()
	m.written.release()
}

func (d *shard) announce(ctx actor.Context, m *announce) {
	registered := false
	for _, h := range d.byRcpt[m.r] {
		registered = registered || h == m.h
	}
	if !registered {
		return // the session left meanwhile; announcing it would leave stale presence
	}
	sys, pid := ctx.ActorSystem(), m.h.pid.Load()
	ready := presenceReady{r: m.r, gen: m.gen}
	d.sys.deps.Presence.Add(m.r, func() { sys.Root.Send(pid, ready) })
}

func (d *shard) unregister(m *unregister) {
	list := d.byRcpt[m.r]
	for i, h := range list {
		if h == m.h {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) > 0 {
		d.byRcpt[m.r] = list
		d.counted(m.r)
		return
	}
	delete(d.byRcpt, m.r)
	d.counted(m.r)
	d.sys.deps.Presence.Remove(m.r)
}

// counted tells the subscriber count of topic r, when someone listens.
func (d *shard) counted(r wire.Recipient) {
	if r.Kind == wire.KindTopic && d.sys.deps.Subscribers != nil {
		d.sys.deps.Subscribers.Count(r, len(d.byRcpt[r]))
	}
}
