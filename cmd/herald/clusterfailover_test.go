package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
)

// A master of a Redis Cluster with a replica per master is killed with -9 while
// pushes flow to two users on two nodes. The killed master holds the ingress
// stream herald:in (one partition), node a's inbox and alice's keys (history,
// presence); node b's inbox and bob's keys live on other masters. The cluster
// promotes the replica, and the old master, restarted from its dir, comes back
// as the new master's replica. With redis.wait_replicas 1 (and a publisher that
// waits for a replica too) no acknowledged push is lost; with 0 the loss is
// measured and logged, not asserted: replication is asynchronous.
func TestRedisClusterMasterKilledWhilePushesFlow(t *testing.T) {
	for _, wait := range []int{0, 1} {
		t.Run(fmt.Sprintf("wait_replicas=%d", wait), func(t *testing.T) { clusterMasterKilled(t, wait) })
	}
}

// clusterFailover is one run: what was killed and what the clients got.
type clusterFailover struct {
	ha         *redistest.HACluster
	rdb        *redis.ClusterClient
	victim     redistest.Shard
	a, b       *proc
	fa, fb     *follower
	alice, bob string
}

func clusterMasterKilled(t *testing.T, wait int) {
	const n = 1500
	f := startClusterFailover(t, wait)
	pub := startWaitingPublisher(t, f.rdb, wait, n, 300, f.alice, f.bob)
	waitProgress(t, pub.publisher, n/3)
	atKill := pub.progress()
	killed := time.Now()
	f.victim.Master.Kill()
	limit := 30 * time.Second
	if wait > 0 {
		limit = 60 * time.Second // WAIT holds the flow until the old master is back as a replica
	}
	flowing := timeToFlow(f.fa, f.fb, atKill, killed, limit)
	f.ha.WaitPromoted(t, f.victim, 30*time.Second)
	promoted := time.Since(killed)
	var flow time.Duration
	if wait == 0 {
		// Before the old master is back: once it answers again, its MOVED replies
		// would fix a client's slot map that nothing else made it reload.
		if flow = <-flowing; flow < 0 {
			t.Fatal("pushes did not flow again within 30 s of the kill while the old master was down")
		}
	}
	// Back as a replica, so that the new master has one to confirm WAIT again.
	f.ha.Rejoin(t, f.victim.Master, 30*time.Second)
	rejoined := time.Since(killed)
	pub.wait(t, 120*time.Second)
	if wait > 0 {
		flow = <-flowing
		f.fa.waitAll(n, 60*time.Second)
		f.fb.waitAll(n, 60*time.Second)
		t.Logf("wait_replicas=%d: replica promoted %v after kill -9, old master back as a replica after %v; pushes flowing again after %v; 0 of %d acknowledged pushes lost per user; %d+%d duplicates dropped by id; publishes retried after a short WAIT: %d; router WAITs short: a %v, b %v",
			wait, tenths(promoted), tenths(rejoined), tenths(flow), n, f.fa.dups, f.fb.dups, pub.shortWaits(),
			procMetric(t, f.a.addr, `herald_redis_wait_short_total{op="router"}`), procMetric(t, f.b.addr, `herald_redis_wait_short_total{op="router"}`))
		return
	}
	time.Sleep(10 * time.Second) // long enough to resume; measured, not asserted
	t.Logf("wait_replicas=0: replica promoted %v after kill -9, old master back as a replica after %v; pushes flowing again after %v; acknowledged pushes lost: %s (inbox and history on the killed master) %d of %d, %s %d of %d; %d+%d duplicates dropped by id",
		tenths(promoted), tenths(rejoined), tenths(flow), f.alice, len(f.fa.missing(n)), n, f.bob, len(f.fb.missing(n)), n, f.fa.dups, f.fb.dups)
}

// startClusterFailover starts the cluster, picks the master to kill (the one
// holding herald:in) and names nodes and users so that a's inbox and alice's
// keys sit on it and b's and bob's do not, then starts both nodes and a
// follower for each user.
func startClusterFailover(t *testing.T, wait int) *clusterFailover {
	t.Helper()
	ha := redistest.StartHACluster(t, redistest.Options{})
	f := &clusterFailover{ha: ha, rdb: connectHA(t, ha), victim: ha.ShardOf(t, "herald:in")}
	inbox := func(node string) string { return "herald:{n:" + node + "}:in" }
	history := func(user string) string { return "herald:{u:" + user + "}:h" }
	nodeA, nodeB := f.named(t, "a", inbox, true), f.named(t, "b", inbox, false)
	f.alice, f.bob = f.named(t, "alice", history, true), f.named(t, "bob", history, false)
	flags := append(clusterFlags(&ha.Cluster), fastCluster...)
	flags = append(flags, "--redis.wait_replicas", fmt.Sprint(wait), "--redis.wait_timeout", "300ms") // below lease_ttl/3
	f.a = startProc(t, nil, nodeA, flags...)
	f.b = startProc(t, nil, nodeB, flags...)
	f.fa = follow(t, f.alice, f.a.addr, f.b.addr)
	f.fb = follow(t, f.bob, f.b.addr, f.a.addr)
	waitPresence(t, f.rdb, f.alice, nodeA)
	waitPresence(t, f.rdb, f.bob, nodeB)
	t.Logf("killing master %s (replica %s): herald:in, %s, %s; node %s's inbox and %s's keys elsewhere",
		f.victim.Master.Addr, f.victim.Replica.Addr, inbox(nodeA), history(f.alice), nodeB, f.bob)
	return f
}

// named returns the first of prefix, prefix1, prefix2... whose key sits on the
// victim's master (on is true) or on another master (on is false).
func (f *clusterFailover) named(t *testing.T, prefix string, key func(string) string, on bool) string {
	t.Helper()
	for i := 0; i < 200; i++ {
		name := prefix
		if i > 0 {
			name = fmt.Sprint(prefix, i)
		}
		if (f.ha.ShardOf(t, key(name)).Master == f.victim.Master) == on {
			return name
		}
	}
	t.Fatalf("no %s* whose key %s is on the victim's master: %v", prefix, key(prefix), on)
	return ""
}

// connectHA is the client a service would use: Herald's own cluster client,
// which follows a failover (a plain go-redis ClusterClient kept sending the
// dead master's slots to its address for up to a minute).
func connectHA(t *testing.T, ha *redistest.HACluster) *redis.ClusterClient {
	t.Helper()
	rdb, err := streams.Connect(context.Background(), streams.RedisConfig{Addrs: ha.Addrs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb.(*redis.ClusterClient)
}

// timeToFlow measures, in the background, how long after killed both followers
// got a push published after the kill (-1 if not within limit).
func timeToFlow(fa, fb *follower, atKill int, killed time.Time, limit time.Duration) <-chan time.Duration {
	flowing := make(chan time.Duration, 1)
	go func() {
		for time.Since(killed) < limit {
			if fa.gotAbove(atKill) && fb.gotAbove(atKill) {
				flowing <- time.Since(killed)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		flowing <- -1
	}()
	return flowing
}

func tenths(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
