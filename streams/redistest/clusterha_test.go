package redistest_test

import (
	"slices"
	"testing"
	"time"

	"github.com/herald-push/herald/streams/redistest"
)

// A 3+3 cluster starts with a live replica per master; a master killed with -9
// is replaced by its replica, which keeps what the old master had replicated,
// and the old master restarted from its dir rejoins as the new one's replica.
func TestHAClusterFailsOverAndRejoins(t *testing.T) {
	t.Parallel()
	ha := redistest.StartHACluster(t, redistest.Options{})
	shards := ha.Shards(t)
	if len(ha.Nodes) != 6 || len(shards) != 3 {
		t.Fatalf("%d nodes, %d shards; want 6 and 3", len(ha.Nodes), len(shards))
	}
	if whole, err := ha.Whole(); err != nil || len(whole) != 3 {
		t.Fatalf("Whole right after the start: %v, %v", whole, err)
	}
	timeout := ha.Nodes[0].Client(t).ConfigGet(ctx(t), "cluster-node-timeout").Val()["cluster-node-timeout"]
	if timeout != "1000" {
		t.Fatalf("cluster-node-timeout = %q, want 1000", timeout)
	}
	sh := ha.ShardOf(t, "{a}x")
	// On the master's own connection, so that WAIT covers the SET.
	pipe := sh.Master.Client(t).Pipeline()
	pipe.Set(ctx(t), "{a}x", "v", 0)
	wait := pipe.Do(ctx(t), "wait", 1, 2000)
	if _, err := pipe.Exec(ctx(t)); err != nil || wait.Val() != int64(1) {
		t.Fatalf("SET + WAIT 1 = %v, %v; want 1 replica", wait.Val(), err)
	}
	if state, err := ha.FailoverState(sh); state != redistest.FailoverNone {
		t.Fatalf("FailoverState of a healthy master = %s (%v), want %s", state, err, redistest.FailoverNone)
	}

	killed := time.Now()
	sh.Master.Kill()
	if m := ha.WaitPromoted(t, sh, 30*time.Second); m != sh.Replica {
		t.Fatalf("promoted %s, want the replica %s", m.Addr, sh.Replica.Addr)
	}
	promoted := time.Since(killed)
	if state, err := ha.FailoverState(sh); state != redistest.FailoverDone {
		t.Fatalf("FailoverState after the promotion = %s (%v), want %s", state, err, redistest.FailoverDone)
	}
	if _, err := ha.Whole(); err == nil {
		t.Fatal("Whole while a master is down and its replica alone")
	}
	if v, err := sh.Replica.Client(t).Get(ctx(t), "{a}x").Result(); err != nil || v != "v" {
		t.Fatalf("GET on the promoted replica = %q, %v; want v", v, err)
	}

	ha.Rejoin(t, sh.Master, 30*time.Second)
	now := ha.ShardOf(t, "{a}x")
	whole, err := ha.Whole()
	if err != nil || !slices.ContainsFunc(whole, func(w redistest.Shard) bool { return w.Master == sh.Replica && w.Replica == sh.Master }) {
		t.Fatalf("Whole after the rejoin: %v, %v; want %s with its replica %s", whole, err, sh.Replica.Addr, sh.Master.Addr)
	}
	if now.Master != sh.Replica || now.Replica != sh.Master {
		t.Fatalf("after the rejoin the shard is %s (replica %s); want %s (replica %s)",
			now.Master.Addr, now.Replica.Addr, sh.Replica.Addr, sh.Master.Addr)
	}
	if v, err := ha.Client(t).Get(ctx(t), "{a}x").Result(); err != nil || v != "v" {
		t.Fatalf("GET through a cluster client = %q, %v; want v", v, err)
	}
	t.Logf("replica promoted %v after kill -9; old master back as a replica %v after the kill",
		promoted.Round(10*time.Millisecond), time.Since(killed).Round(10*time.Millisecond))
}

// The slot ranges and roles of CLUSTER NODES lines are parsed as Redis 7 writes
// them.
func TestParseClusterNodesLine(t *testing.T) {
	lines := map[string]struct {
		master, failed bool
		slots          [][2]int
	}{
		"07c3 127.0.0.1:30004@31004 myself,master - 0 0 7 connected 0-5460 5462 [5461->-e7d1]": {true, false, [][2]int{{0, 5460}, {5462, 5462}}},
		"e7d1 127.0.0.1:30001@31001 master,fail - 1700 1699 1 disconnected":                    {true, true, nil},
		"a1b2 127.0.0.1:30002@31002,host slave 07c3 0 1700 7 connected":                        {false, false, nil},
		"c3d4 127.0.0.1:30003@31003 slave,fail? 07c3 0 1700 7 connected":                       {false, true, nil},
	}
	for line, want := range lines {
		got, err := redistest.ParseNodeLine(line)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if got.Master != want.master || got.Failed != want.failed || len(got.Slots) != len(want.slots) {
			t.Fatalf("%q: got %+v, want %+v", line, got, want)
		}
		for i := range want.slots {
			if got.Slots[i] != want.slots[i] {
				t.Fatalf("%q: slots %v, want %v", line, got.Slots, want.slots)
			}
		}
	}
	if _, err := redistest.ParseNodeLine("x 127.0.0.1:1@2 master - 0 0 1 connected 12-ab"); err == nil {
		t.Fatal("a bad slot range parsed")
	}
}
