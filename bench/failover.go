package bench

import (
	"context"
	"strconv"
	"time"
)

// The failover scenario is a unicast run over two or more nodes in which one node
// is killed with SIGKILL, --kill-after into the publishing; the clients that were
// on it fail over to the others. Nothing may be lost.

// killInfo is what the failover killer did.
type killInfo struct {
	victim    int
	at        time.Time
	heldLease bool
	done      bool
}

// killOne kills -9, --kill-after into the publishing, the node that holds the
// ingress lease (the worst case: it routes and hosts sessions), else node 0.
func (r *runner) killOne(ctx context.Context, e *env, t0 time.Time, k *killInfo) {
	k.victim = -1
	select {
	case <-time.After(time.Until(t0.Add(r.cfg.KillAfter))):
	case <-ctx.Done():
		return
	}
	k.victim = 0
	if holder, err := e.rdb.Get(ctx, e.keys.Lease(0)).Result(); err == nil {
		for i := range e.procs {
			if holder == "bench-n"+strconv.Itoa(i) {
				k.victim, k.heldLease = i, true
			}
		}
	}
	k.at = time.Now()
	e.procs[k.victim].Kill()
	k.done = true
	r.logf("killed node %d (kill -9)%s", k.victim, map[bool]string{true: ", the ingress lease holder", false: ""}[k.heldLease])
}

// failoverFigures are the clients the kill disconnected, how many came back and
// how long the last of them took.
func (r *runner) failoverFigures(sr *ScenarioResult, k *killInfo, fin Tick, clients, nodes int) {
	if !k.done {
		sr.note("no node was killed: publishing ended before --kill-after")
		return
	}
	onVictim := 0
	for i := 0; i < clients; i++ {
		if i%nodes == k.victim {
			onVictim++
		}
	}
	sr.add("killed_node", "node killed (kill -9)", float64(k.victim), "")
	sr.add("clients_on_killed_node", "clients on the killed node", float64(onVictim), "")
	sr.add("reconnected", "clients that reconnected", float64(fin.Reconnects), "")
	sr.add("down_at_end", "clients not connected at the end", float64(fin.Down), "")
	if fin.LastUp > 0 {
		sr.add("back_s", "kill to the last client's welcome on a live node", time.Unix(0, fin.LastUp).Sub(k.at).Seconds(), "s")
	}
	if k.heldLease {
		sr.note("the killed node held the ingress lease: routing resumed on another node after streams.lease_ttl, and the entries it had read but not acknowledged were reclaimed after streams.claim_idle")
	}
}
