package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/streams/redistest"
)

// On a Redis Cluster the fault kinds are the Sentinel topology's (faultMasterKill,
// faultMasterStop, faultReplicaKill), each on one shard: the master or the
// replica serving nemesisFault.Shard's slots when the fault begins.
const (
	clusterSettle  = 60 * time.Second // a cluster not whole again within this fails the run
	clusterOutcome = 30 * time.Second // a master down longer waits at most this for its failover to end
)

// nemesisRedisCluster is a Redis Cluster of three masters with one replica each
// (redistest.StartHACluster: cluster-node-timeout 1 s), all append-only with
// appendfsync always. Nodes run with redis.addrs and redis.wait_replicas 1: with
// one replica per master, a shard whose replica is down or whose master was just
// failed over (the promoted replica has none until the old master rejoins)
// acknowledges nothing for its slots until a replica is back. That stalls
// pushes, it loses none.
type nemesisRedisCluster struct {
	t      *testing.T
	ha     *redistest.HACluster
	rec    *nemesisRecorder
	names  map[*redistest.Server]string // r0 ... r5, as started
	firsts []int                        // each shard's first slot, in shard order

	mu      sync.Mutex
	faulted *redistest.Server // killed or stopped by the fault under way: the observer does not ask it
}

func startNemesisRedisCluster(t *testing.T, rec *nemesisRecorder) *nemesisRedisCluster {
	ha := redistest.StartHACluster(t, redistest.Options{Args: []string{"--appendfsync", "always"}})
	c := &nemesisRedisCluster{t: t, ha: ha, rec: rec, names: map[*redistest.Server]string{}}
	for i, srv := range ha.Nodes {
		c.names[srv] = fmt.Sprintf("r%d", i)
	}
	shards, err := c.waitWhole(clusterSettle)
	if err != nil {
		t.Fatalf("the Redis Cluster is not whole after its start: %v", err)
	}
	var layout []string
	for i, sh := range shards {
		c.firsts = append(c.firsts, sh.Slots[0][0])
		layout = append(layout, fmt.Sprintf("shard %d: slots %v, master %s %s, replica %s %s",
			i+1, sh.Slots, c.names[sh.Master], sh.Master.Addr, c.names[sh.Replica], sh.Replica.Addr))
	}
	in := ha.ShardOf(t, "herald:in")
	layout = append(layout, fmt.Sprintf("herald:in on shard %d", c.shardNo(in.Slots[0][0])))
	rec.now(nemesisEvent{Ev: "observe", Kind: "layout", Detail: strings.Join(layout, "; ")})
	return c
}

// nodeFlags: the nodes' WAIT timeout stays below streams.lease_ttl/3 (1 s in the
// fault timings), as TestRedisClusterMasterKilledWhilePushesFlow runs them.
func (c *nemesisRedisCluster) nodeFlags() []string {
	return append(clusterFlags(&c.ha.Cluster), "--redis.wait_replicas", "1", "--redis.wait_timeout", "300ms")
}

func (c *nemesisRedisCluster) publishWait() int { return 1 }

// client is a cluster client that follows a failover as docs/OPERATIONS.md asks
// of a service ("Redis Cluster with replicas"): go-redis reloads its slot map
// only on MOVED or once a minute, so every failed command reloads it, and a
// dead master is dialed once, not five times. No client-side retries.
func (c *nemesisRedisCluster) client(timeout time.Duration, pool int) redis.UniversalClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.ha.Addrs, MaxRetries: -1, DialerRetries: 1,
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, PoolSize: pool,
		ClusterStateReloadInterval: 2 * time.Second, DisableIdentity: true})
	cc.OnNewNode(func(n *redis.Client) { n.AddHook(reloadOnError{cc}) })
	return cc
}

// reloadOnError reloads the cluster client's slot map after any failed command
// or pipeline on a node (go-redis coalesces the reloads).
type reloadOnError struct{ cc *redis.ClusterClient }

func (h reloadOnError) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h reloadOnError) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.check(err)
		return err
	}
}

func (h reloadOnError) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.check(err)
		return err
	}
}

func (h reloadOnError) check(err error) {
	if err != nil && !errors.Is(err, redis.Nil) && !errors.Is(err, redis.ErrClosed) {
		h.cc.ReloadState(context.Background())
	}
}

// observe records each shard's master and replica as a server that runs sees
// them, e.g. "1:r3+r0 2:r1(failing)+none 3:r2+r5".
func (c *nemesisRedisCluster) observe(context.Context) map[string]string {
	n := c.asker()
	if n == nil {
		return nil
	}
	view, err := c.ha.View(n)
	if err != nil {
		return nil
	}
	var parts []string
	for _, v := range view {
		s := fmt.Sprintf("%d:%s", c.shardNo(v.Slots[0][0]), c.names[v.Master])
		if v.Failing {
			s += "(failing)"
		}
		if v.Replica != nil {
			s += "+" + c.names[v.Replica]
		} else {
			s += "+none"
		}
		parts = append(parts, s)
	}
	return map[string]string{"shards": strings.Join(parts, " ")}
}

// asker is a server that runs and is not under a fault: a stopped one would not
// answer for 2 s.
func (c *nemesisRedisCluster) asker() *redistest.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, srv := range c.ha.Nodes {
		if srv != c.faulted && srv.Running() {
			return srv
		}
	}
	return nil
}

func (c *nemesisRedisCluster) setFaulted(srv *redistest.Server) {
	c.mu.Lock()
	c.faulted = srv
	c.mu.Unlock()
}

// shardNo numbers shards from 1 by their first slot, which a failover keeps.
func (c *nemesisRedisCluster) shardNo(first int) int {
	for i, f := range c.firsts {
		if f == first {
			return i + 1
		}
	}
	return 0
}

func (c *nemesisRedisCluster) keepLogs(dir string) {
	for srv, n := range c.names {
		copyLog(filepath.Join(srv.Dir(), "redis.log"), filepath.Join(dir, n+".log"))
		copyLog(filepath.Join(srv.Dir(), "nodes.conf"), filepath.Join(dir, n+".nodes.conf"))
	}
}

// faults: faults of the shards' masters and replicas in lane 0, node faults in
// lane 1, side by side. Each Redis fault begins only once the cluster is whole
// (three masters, each with a replica in sync): faults of Redis never overlap,
// so that at most one shard stalls for want of a replica at a time.
func (c *nemesisRedisCluster) faults(nodes int, nodeTTL time.Duration) []nemesisFaultKind {
	timeout := redistest.HANodeTimeout
	return []nemesisFaultKind{
		nodeKillFault(1, 60, nodes),
		nodeStopFault(1, 40, nodes, nodeTTL),
		{kind: faultMasterKill, weight: 35, plan: onShard(planMasterFault(faultMasterKill, timeout, 2*time.Second, 8*time.Second)), apply: c.masterKill},
		{kind: faultMasterStop, weight: 35, plan: onShard(planMasterFault(faultMasterStop, timeout, timeout*3/2, 6*time.Second)), apply: c.masterStop},
		{kind: faultReplicaKill, weight: 30, plan: onShard(planShardReplicaKill), apply: c.replicaKill},
	}
}

// onShard gives the faults plan appends a shard (1 to 3), drawn after them.
func onShard(plan func(*rand.Rand, *[]nemesisFault, time.Duration) time.Duration) func(*rand.Rand, *[]nemesisFault, time.Duration) time.Duration {
	return func(rng *rand.Rand, faults *[]nemesisFault, at time.Duration) time.Duration {
		from := len(*faults)
		end := plan(rng, faults, at)
		for i := from; i < len(*faults); i++ {
			(*faults)[i].Shard = 1 + rng.Intn(3)
		}
		return end
	}
}

// planShardReplicaKill: kill -9 of a shard's replica, restarted 1-5 s later.
func planShardReplicaKill(rng *rand.Rand, plan *[]nemesisFault, at time.Duration) time.Duration {
	hold := between(rng, time.Second, 5*time.Second)
	*plan = append(*plan, nemesisFault{At: at, Kind: faultReplicaKill, Hold: hold})
	return at + hold
}

// target waits until the cluster is whole and returns the fault's shard, or false
// (the fault is skipped, and the run fails) when it is not whole in time.
func (c *nemesisRedisCluster) target(f nemesisFault) (redistest.Shard, bool) {
	start := time.Now()
	shards, err := c.waitWhole(clusterSettle)
	if err != nil {
		c.t.Errorf("%v: the Redis Cluster is not whole after %v: %v", f, clusterSettle, err)
		c.rec.now(nemesisEvent{Ev: "anomaly", Kind: f.Kind, Detail: "cluster not whole: " + err.Error()})
		return redistest.Shard{}, false
	}
	sh := shards[(f.Shard-1)%len(shards)]
	c.rec.now(nemesisEvent{Ev: "fault", Kind: f.Kind, Node: c.names[sh.Master], Detail: fmt.Sprintf("cluster whole after %v; shard %d: master %s %s, replica %s %s",
		time.Since(start).Round(time.Millisecond), f.Shard, c.names[sh.Master], sh.Master.Addr, c.names[sh.Replica], sh.Replica.Addr)})
	return sh, true
}

func (c *nemesisRedisCluster) masterKill(_ *nemesis, f nemesisFault) {
	sh, ok := c.target(f)
	if !ok {
		return
	}
	c.setFaulted(sh.Master)
	sh.Master.Kill()
	time.Sleep(f.Hold)
	c.awaitOutcome(sh, f)
	// Restarted from its dir (nodes.conf, AOF): the master it was when the
	// cluster left it master, else it hears that its replica took its slots and
	// rejoins as that one's replica (redistest.HACluster.Rejoin).
	sh.Master.Restart(c.t)
	c.setFaulted(nil)
	c.wholeAgain(f)
}

func (c *nemesisRedisCluster) masterStop(_ *nemesis, f nemesisFault) {
	sh, ok := c.target(f)
	if !ok {
		return
	}
	c.setFaulted(sh.Master)
	pid := sh.Master.Pid()
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	time.Sleep(f.Hold)
	c.awaitOutcome(sh, f)
	_ = syscall.Kill(pid, syscall.SIGCONT)
	c.setFaulted(nil)
	c.wholeAgain(f)
}

func (c *nemesisRedisCluster) replicaKill(_ *nemesis, f nemesisFault) {
	sh, ok := c.target(f)
	if !ok {
		return
	}
	c.rec.now(nemesisEvent{Ev: "fault", Kind: f.Kind, Node: c.names[sh.Replica], Detail: "replica " + c.names[sh.Replica] + " " + sh.Replica.Addr})
	c.setFaulted(sh.Replica)
	sh.Replica.Kill()
	time.Sleep(f.Hold)
	sh.Replica.Restart(c.t) // a replica again, of the same master (its nodes.conf)
	c.setFaulted(nil)
	c.wholeAgain(f)
}

// awaitOutcome keeps the faulted master down (killed or stopped) past its hold
// until the cluster has an outcome for it: either it is still the master every
// other server names, flagged by none of them (not even fail?, the suspicion
// that leads to a vote), or the failover is over (every other server is ok and
// names its replica the master of its slots). The Sentinel run lost acknowledged
// XADDs to a master that came back while its failover was under way
// (docs/NEMESIS.md): a replica not yet moved to the promoted server confirmed
// the old master's writes, and both dropped them. With one replica per master
// that replica is the one promoted, so here WAIT 1 should cover the window; the
// test keeps the faults clear of it all the same, so that a loss it finds is
// Herald's and not a race between a returning master and its replica's election,
// whose outcome is Redis's (the old master's fail flag outlives its return by
// up to 2 x cluster-node-timeout, and its replica may be promoted all the same).
func (c *nemesisRedisCluster) awaitOutcome(sh redistest.Shard, f nemesisFault) {
	start := time.Now()
	for {
		state, err := c.ha.FailoverState(sh)
		if state != redistest.FailoverPending {
			c.rec.now(nemesisEvent{Ev: "fault", Kind: f.Kind, Node: c.names[sh.Master],
				Detail: fmt.Sprintf("failover %s, %v after the hold", state, time.Since(start).Round(time.Millisecond))})
			return
		}
		if time.Since(start) > clusterOutcome {
			c.rec.now(nemesisEvent{Ev: "anomaly", Kind: f.Kind, Node: c.names[sh.Master], Detail: fmt.Sprintf("failover pending after %v: %v", clusterOutcome, err)})
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wholeAgain records how long after the fault ended the cluster was whole again:
// every shard's master has its replica in sync, writes under WAIT 1 go on for
// every slot.
func (c *nemesisRedisCluster) wholeAgain(f nemesisFault) {
	start := time.Now()
	shards, err := c.waitWhole(clusterSettle)
	if err != nil {
		c.rec.now(nemesisEvent{Ev: "anomaly", Kind: f.Kind, Detail: "cluster not whole: " + err.Error()})
		return
	}
	c.rec.now(nemesisEvent{Ev: "fault", Kind: f.Kind, Node: c.names[shards[(f.Shard-1)%len(shards)].Master],
		Detail: fmt.Sprintf("whole again after %v", time.Since(start).Round(time.Millisecond))})
}

// waitWhole polls redistest.HACluster.Whole until it answers or d is over.
func (c *nemesisRedisCluster) waitWhole(d time.Duration) ([]redistest.Shard, error) {
	deadline := time.Now().Add(d)
	for {
		shards, err := c.ha.Whole()
		if err == nil || time.Now().After(deadline) {
			return shards, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// heal resumes and restarts every server (a fault restarts what it killed, so
// normally there is nothing to do) and waits until the cluster is whole: a
// master that was failed over rejoins as a replica within seconds here, unlike
// an old master under Sentinel.
func (c *nemesisRedisCluster) heal(t *testing.T, rec *nemesisRecorder) {
	for _, srv := range c.ha.Nodes {
		if !srv.Running() {
			rec.now(nemesisEvent{Ev: "heal", Detail: "restarting " + c.names[srv]})
			srv.Restart(t)
			continue
		}
		_ = syscall.Kill(srv.Pid(), syscall.SIGCONT)
	}
	c.setFaulted(nil)
	if _, err := c.waitWhole(clusterSettle); err != nil {
		t.Fatalf("healing: the Redis Cluster is not whole after %v: %v", clusterSettle, err)
	}
	rec.now(nemesisEvent{Ev: "heal", Detail: "redis cluster whole"})
}
