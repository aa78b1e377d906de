package redistest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ShardView is a master that serves slots as one server's CLUSTER NODES shows
// it. Unlike Shards, which fails the test, it is what a randomized fault test
// needs while a master is down or stopped: Replica is nil when no replica of
// the master is up, and Failing tells whether that server flags the master.
type ShardView struct {
	Shard
	Failing bool // flagged fail or fail? (PFAIL) by the server asked
}

// View returns the masters that serve slots as n sees them, ordered by their
// first slot: the shards keep that order across failovers, since a failover
// moves a master's slots to its replica as they are.
func (c *HACluster) View(n *Server) ([]ShardView, error) {
	nodes, err := clusterNodes(n)
	if err != nil {
		return nil, err
	}
	var out []ShardView
	for _, m := range nodes {
		if !m.master || len(m.slots) == 0 {
			continue
		}
		v := ShardView{Shard: Shard{Master: c.server(m.addr), Slots: m.slots}, Failing: m.failed}
		if v.Master == nil {
			return nil, fmt.Errorf("redistest: %s names a master %s this cluster did not start", n.Addr, m.addr)
		}
		for _, r := range nodes {
			if r.masterID == m.id && !r.failed {
				v.Replica = c.server(r.addr)
			}
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slots[0][0] < out[j].Slots[0][0] })
	return out, nil
}

// Whole returns the shards, ordered by their first slot, and a nil error once
// the cluster has the shape StartHACluster gave it (the roles may have
// swapped): every server runs and answers, reports cluster_state:ok with six
// known nodes, and names the same three masters, none flagged, each with a
// replica that is up; and every replica's link to its master is up with its
// sync done. A server that is stopped (SIGSTOP) makes it wait about 2 s for
// that server's answer and fail.
func (c *HACluster) Whole() ([]Shard, error) {
	var first []ShardView
	for _, n := range c.Nodes {
		info, err := n.do("CLUSTER", "INFO")
		if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(c.Nodes))+"\r\n") {
			return nil, fmt.Errorf("redistest: %s: cluster not ok with %d known nodes (%v)", n.Addr, len(c.Nodes), err)
		}
		view, err := c.View(n)
		if err != nil {
			return nil, err
		}
		if err := wholeView(n, view); err != nil {
			return nil, err
		}
		if first == nil {
			first = view
		} else if !sameShards(first, view) {
			return nil, fmt.Errorf("redistest: %s and %s see different shards", c.Nodes[0].Addr, n.Addr)
		}
	}
	shards := make([]Shard, len(first))
	for i, v := range first {
		shards[i] = v.Shard
		ri, err := v.Replica.do("INFO", "replication")
		if err != nil || !strings.Contains(ri, "master_link_status:up") || !strings.Contains(ri, "master_sync_in_progress:0") ||
			!strings.Contains(ri, "master_port:"+strconv.Itoa(v.Master.port)+"\r\n") {
			return nil, fmt.Errorf("redistest: replica %s not in sync with %s (%v)", v.Replica.Addr, v.Master.Addr, err)
		}
	}
	return shards, nil
}

// wholeView: three masters with slots, none flagged, each with a replica up.
func wholeView(n *Server, view []ShardView) error {
	if len(view) != 3 {
		return fmt.Errorf("redistest: %s sees %d masters with slots, want 3", n.Addr, len(view))
	}
	for _, v := range view {
		if v.Failing || v.Replica == nil {
			return fmt.Errorf("redistest: %s sees master %s flagged failing (%v) or without a replica up", n.Addr, v.Master.Addr, v.Failing)
		}
	}
	return nil
}

func sameShards(a, b []ShardView) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Master != b[i].Master || a[i].Replica != b[i].Replica || a[i].Slots[0] != b[i].Slots[0] {
			return false
		}
	}
	return true
}

// FailoverState tells, while sh.Master is down or stopped, what the other
// servers do about it: FailoverNone while every one of them still names it the
// master of sh's slots and none flags it (not even fail?, the suspicion that
// precedes the vote), FailoverDone once every one of them reports
// cluster_state:ok and names sh.Replica the master of those slots, and
// FailoverPending in between. Servers that do not run are not asked; skip
// names others not to ask (one that is stopped would not answer).
func (c *HACluster) FailoverState(sh Shard, skip ...*Server) (string, error) {
	none, done := true, true
	asked := 0
	for _, n := range c.live() {
		if n == sh.Master || contains(skip, n) {
			continue
		}
		asked++
		view, err := c.View(n)
		if err != nil {
			return FailoverPending, err
		}
		v, ok := viewOf(view, sh.Slots[0][0])
		if !ok || v.Master != sh.Master || v.Failing {
			none = false
		}
		info, err := n.do("CLUSTER", "INFO")
		if !ok || v.Master != sh.Replica || err != nil || !strings.Contains(info, "cluster_state:ok") {
			done = false
		}
	}
	switch {
	case asked == 0:
		return FailoverPending, fmt.Errorf("redistest: no other server runs")
	case none:
		return FailoverNone, nil
	case done:
		return FailoverDone, nil
	}
	return FailoverPending, nil
}

// viewOf returns the shard of view that serves slot.
func viewOf(view []ShardView, slot int) (ShardView, bool) {
	for _, v := range view {
		if v.serves(slot) {
			return v, true
		}
	}
	return ShardView{}, false
}

func contains(list []*Server, s *Server) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
