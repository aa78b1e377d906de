package actors

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-push/herald/wire"
)

// shardSupervisor is the directory shards' strategy. A shard that panicked may
// have registered a session half-way, or offered a batch to some of its sessions
// and not to others; and protoactor's default restart would give it an empty
// table, so that every session it held would silently stop receiving while the
// inbox acknowledged their pushes. So it closes every session the shard held
// with 1011 (the clients resume from history, which holds every push: nothing is
// lost), releases the trackers of the batch it failed on (else the router or the
// inbox would wait for it forever) and restarts the shard empty. The sessions'
// own guardian is in System.New: a session is stopped, never restarted.
type shardSupervisor struct{ s *System }

func (g shardSupervisor) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, message any) {
	g.s.deps.Metrics.ShardPanics.Inc()
	g.s.deps.Log.Error("directory shard panicked; closing its sessions with 1011 so that they resume", "reason", reason)
	if d := g.s.shardOfPID(child); d != nil {
		for _, h := range d.reset() {
			h.closeWith(wire.CloseInternal, "internal error; resume")
		}
	}
	releaseFailed(message)
	sup.RestartChildren(child)
}

func (s *System) shardOfPID(pid *actor.PID) *shard {
	for i, p := range s.shards {
		if p.Equal(pid) {
			return s.shardState[i]
		}
	}
	return nil
}

// reset empties the shard and returns the sessions it held.
func (d *shard) reset() []*Handle {
	seen := make(map[*Handle]bool)
	var hs []*Handle
	for _, list := range d.byRcpt {
		for _, h := range list {
			if !seen[h] {
				seen[h] = true
				hs = append(hs, h)
			}
		}
	}
	d.byRcpt = make(map[wire.Recipient][]*Handle)
	d.woken = nil
	return hs
}

// releaseFailed settles the message a shard failed on: a batch's trackers are
// released (its sessions were closed), a session caught registering is closed.
func releaseFailed(message any) {
	switch m := message.(type) {
	case *deliver:
		m.accepted.release()
		m.written.release()
	case *register:
		m.h.closeWith(wire.CloseInternal, "internal error; resume")
	case *announce:
		m.h.closeWith(wire.CloseInternal, "internal error; resume")
	}
}
