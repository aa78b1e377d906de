package redistest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// HANodeTimeout is the cluster-node-timeout of StartHACluster: a master
// unreachable for this long is flagged as failing, and its replica is promoted
// about a second later. Small, so that a failover test takes seconds, not the
// 15 s of Redis's default.
const HANodeTimeout = 1000 * time.Millisecond

// HACluster is a Redis Cluster of three masters with one replica each. Nodes
// and Addrs list all six servers in the order they were started; which of them
// is a master changes with every failover, so ask the cluster (ShardOf,
// Shards) rather than relying on the order.
type HACluster struct {
	Cluster
}

// Shard is a master and its replica, and the slots the master serves.
type Shard struct {
	Master, Replica *Server
	Slots           [][2]int // inclusive ranges
}

// StartHACluster starts six cluster-enabled redis-servers on free loopback
// ports, joins them with `redis-cli --cluster create ... --cluster-replicas 1`
// and waits until every node reports cluster_state:ok with six known nodes,
// every node sees three masters with a replica each, and every replica has
// finished its initial sync. Every server runs with appendonly (whatever opts
// says) and keeps its nodes.conf in its data dir, so that a master killed with
// -9 and restarted (Rejoin) comes back as the same node and rejoins as a
// replica. Each server is stopped by its own tb.Cleanup.
func StartHACluster(tb testing.TB, opts Options) *HACluster {
	tb.Helper()
	opts.AppendOnly = true
	opts.Args = append(append([]string(nil), opts.Args...),
		"--cluster-node-timeout", strconv.Itoa(int(HANodeTimeout.Milliseconds())),
		// Redis 7 waits 5 s before a diskless full sync, to batch replicas; with
		// one replica per master that only delays start-up and every rejoin.
		"--repl-diskless-sync-delay", "0")
	c := &HACluster{}
	for i := 0; i < 6; i++ {
		n := start(tb, opts, true)
		c.Nodes = append(c.Nodes, n)
		c.Addrs = append(c.Addrs, n.Addr)
	}
	c.create(tb, 1)
	c.waitOK(tb, c.Nodes, 30*time.Second)
	c.waitShards(tb, 30*time.Second)
	return c
}

// waitShards waits until every node sees three masters with a live replica
// each, and every replica's initial sync is done.
func (c *HACluster) waitShards(tb testing.TB, d time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for _, n := range c.Nodes {
		for {
			shards, err := c.shardsSeenBy(n)
			if err == nil && len(shards) == 3 {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("redistest: %s does not see 3 masters with a replica each after %v: %v %v", n.Addr, d, shards, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, sh := range c.Shards(tb) {
		waitInfo(tb, sh.Replica, "replication", "master_link_status:up", time.Until(deadline))
		waitInfo(tb, sh.Replica, "replication", "master_sync_in_progress:0", time.Until(deadline))
	}
}

// Shards returns the cluster's masters that serve slots, each with its live
// replica, as a live node sees them. A master without a live replica fails
// the test.
func (c *HACluster) Shards(tb testing.TB) []Shard {
	tb.Helper()
	var lastErr error
	for _, n := range c.live() {
		shards, err := c.shardsSeenBy(n)
		if err == nil {
			return shards
		}
		lastErr = err
	}
	tb.Fatalf("redistest: no live node gives the cluster's shards: %v", lastErr)
	return nil
}

// ShardOf returns the shard that serves key now.
func (c *HACluster) ShardOf(tb testing.TB, key string) Shard {
	tb.Helper()
	slot := c.SlotOf(tb, key)
	for _, sh := range c.Shards(tb) {
		if sh.serves(slot) {
			return sh
		}
	}
	tb.Fatalf("redistest: no master serves slot %d (key %q)", slot, key)
	return Shard{}
}

// SlotOf returns key's hash slot, as a live node computes it.
func (c *HACluster) SlotOf(tb testing.TB, key string) int {
	tb.Helper()
	for _, n := range c.live() {
		if s, err := n.do("CLUSTER", "KEYSLOT", key); err == nil {
			slot, err := strconv.Atoi(s)
			if err != nil {
				tb.Fatalf("redistest: CLUSTER KEYSLOT %q = %q", key, s)
			}
			return slot
		}
	}
	tb.Fatalf("redistest: no live node answers CLUSTER KEYSLOT")
	return 0
}

func (sh Shard) serves(slot int) bool {
	for _, r := range sh.Slots {
		if slot >= r[0] && slot <= r[1] {
			return true
		}
	}
	return false
}

// live returns the servers whose process is running.
func (c *HACluster) live() []*Server {
	var out []*Server
	for _, n := range c.Nodes {
		if cmd, _ := n.running(); cmd != nil {
			out = append(out, n)
		}
	}
	return out
}

// server returns the started server listening on addr, or nil.
func (c *HACluster) server(addr string) *Server {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// shardsSeenBy builds the shards from n's CLUSTER NODES. It is an error for a
// master that serves slots to have no replica that is up, or for a node to
// be one this cluster did not start.
func (c *HACluster) shardsSeenBy(n *Server) ([]Shard, error) {
	nodes, err := clusterNodes(n)
	if err != nil {
		return nil, err
	}
	var shards []Shard
	for _, m := range nodes {
		if !m.master || len(m.slots) == 0 {
			continue
		}
		sh := Shard{Master: c.server(m.addr), Slots: m.slots}
		for _, r := range nodes {
			if r.masterID == m.id && !r.failed {
				sh.Replica = c.server(r.addr)
			}
		}
		if sh.Master == nil || sh.Replica == nil {
			return nil, fmt.Errorf("%s: master %s (%s) has no replica up", n.Addr, m.addr, m.id)
		}
		shards = append(shards, sh)
	}
	return shards, nil
}

// WaitPromoted waits, after sh.Master was killed, until sh.Replica answers as
// a master and every live node names it as the owner of sh's slots with
// cluster_state:ok, and returns it.
func (c *HACluster) WaitPromoted(tb testing.TB, sh Shard, d time.Duration) *Server {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		err := c.promoted(sh)
		if err == nil {
			return sh.Replica
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: replica %s not promoted within %v: %v\nlog:\n%s", sh.Replica.Addr, d, err, sh.Replica.LogTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// promoted says why sh.Replica is not yet the master of sh's slots everywhere.
func (c *HACluster) promoted(sh Shard) error {
	if info, err := sh.Replica.do("INFO", "replication"); err != nil || !strings.Contains(info, "role:master") {
		return fmt.Errorf("%s is not a master yet (%v)", sh.Replica.Addr, err)
	}
	for _, n := range c.live() {
		if info, err := n.do("CLUSTER", "INFO"); err != nil || !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("%s: cluster not ok (%v)", n.Addr, err)
		}
		nodes, err := clusterNodes(n)
		if err != nil {
			return err
		}
		if !ownsSlots(nodes, sh.Replica.Addr, sh.Slots) {
			return fmt.Errorf("%s does not name %s as the master of %v yet", n.Addr, sh.Replica.Addr, sh.Slots)
		}
	}
	return nil
}

// ownsSlots tells whether nodes list addr as a master that serves every range.
func ownsSlots(nodes []nodeLine, addr string, slots [][2]int) bool {
	for _, n := range nodes {
		if n.addr != addr || !n.master {
			continue
		}
		own := Shard{Slots: n.slots}
		for _, r := range slots {
			if !own.serves(r[0]) || !own.serves(r[1]) {
				return false
			}
		}
		return true
	}
	return false
}

// Rejoin restarts s (killed or stopped) from its data dir and waits until it
// is back in the cluster: a master that was failed over comes back as a
// replica of the node that replaced it (its nodes.conf names it, and the
// others tell it its slots moved). It returns once every node is ok with six
// known nodes, every master has a live replica, and every replica is in sync.
func (c *HACluster) Rejoin(tb testing.TB, s *Server, d time.Duration) {
	tb.Helper()
	s.Restart(tb)
	c.waitOK(tb, c.Nodes, d)
	c.waitShards(tb, d)
}

// nodeLine is one line of CLUSTER NODES.
type nodeLine struct {
	id, addr, masterID string
	master, failed     bool // failed: flagged fail or fail? (or not connected yet)
	slots              [][2]int
}

// clusterNodes asks n for CLUSTER NODES and parses it.
func clusterNodes(n *Server) ([]nodeLine, error) {
	out, err := n.do("CLUSTER", "NODES")
	if err != nil {
		return nil, fmt.Errorf("redistest: CLUSTER NODES on %s: %w", n.Addr, err)
	}
	var nodes []nodeLine
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		l, err := parseNodeLine(line)
		if err != nil {
			return nil, fmt.Errorf("redistest: CLUSTER NODES on %s: %w", n.Addr, err)
		}
		nodes = append(nodes, l)
	}
	return nodes, nil
}

// parseNodeLine parses "<id> <ip:port@cport> <flags> <master> <ping-sent>
// <pong-recv> <config-epoch> <link-state> <slot>...".
func parseNodeLine(line string) (nodeLine, error) {
	f := strings.Fields(line)
	if len(f) < 8 {
		return nodeLine{}, fmt.Errorf("short line %q", line)
	}
	addr, _, _ := strings.Cut(f[1], "@")
	l := nodeLine{id: f[0], addr: addr, masterID: f[3]}
	for _, flag := range strings.Split(f[2], ",") {
		switch flag {
		case "master":
			l.master = true
		case "fail", "fail?", "handshake", "noaddr":
			l.failed = true
		}
	}
	for _, s := range f[8:] {
		if strings.HasPrefix(s, "[") { // a slot being migrated or imported
			continue
		}
		lo, hi, isRange := strings.Cut(s, "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil {
			return nodeLine{}, fmt.Errorf("bad slot range %q in %q", s, line)
		}
		l.slots = append(l.slots, [2]int{a, b})
	}
	return l, nil
}
