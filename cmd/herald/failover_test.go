package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/streams/redistest"
)

// sentinelFlags points a node at the group's master through its Sentinels.
func sentinelFlags(g *redistest.Sentinel) []string {
	return []string{"--redis.sentinel.master", redistest.MasterName, "--redis.sentinel.addrs", strings.Join(g.Addrs, ",")}
}

// The Sentinel master is killed with -9 while pushes flow to two users on two
// nodes; the Sentinels promote the replica, and the old master comes back as a
// replica of the new one. With redis.wait_replicas 1 (and a publisher that waits
// for a replica too) no acknowledged push is lost; with 0 the loss is measured and
// logged, not asserted: replication is asynchronous.
func TestSentinelMasterKilledWhilePushesFlow(t *testing.T) {
	for _, wait := range []int{0, 1} {
		t.Run(fmt.Sprintf("wait_replicas=%d", wait), func(t *testing.T) {
			g := redistest.StartSentinel(t, redistest.Options{})
			rdb := g.Client(t)
			flags := append(sentinelFlags(g), fastCluster...)
			flags = append(flags, "--redis.wait_replicas", fmt.Sprint(wait), "--redis.wait_timeout", "300ms") // below lease_ttl/3
			a := startProc(t, nil, "a", flags...)
			b := startProc(t, nil, "b", flags...)
			fa := follow(t, "alice", a.addr, b.addr)
			fb := follow(t, "bob", b.addr, a.addr)
			waitPresence(t, rdb, "alice", "a")
			waitPresence(t, rdb, "bob", "b")

			const n = 1500
			pub := startWaitingPublisher(t, rdb, wait, n, 300, "alice", "bob")
			waitProgress(t, pub.publisher, n/3)
			old := g.Master
			atKill := pub.progress()
			killed := time.Now()
			old.Kill()
			flowing := make(chan time.Duration, 1)
			go func() { // measured: the first push published after the kill that arrives
				for time.Since(killed) < 60*time.Second {
					if fa.gotAbove(atKill) && fb.gotAbove(atKill) {
						flowing <- time.Since(killed)
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
				flowing <- -1
			}()
			g.WaitFailover(t, old.Addr, 30*time.Second)
			promoted := time.Since(killed)
			// Back as a replica: the Sentinels reconfigure the old master when it
			// returns (empty: no persistence), so that WAIT 1 can be met again.
			old.Restart(t)
			pub.wait(t, 120*time.Second)
			flow := <-flowing
			if wait > 0 {
				fa.waitAll(n, 60*time.Second)
				fb.waitAll(n, 60*time.Second)
				t.Logf("wait_replicas=1: replica promoted %v after kill -9; pushes flowing again after %v; 0 of %d acknowledged pushes lost per user; %d+%d duplicates dropped by id; publishes retried after a short WAIT: %d; router WAITs short: a %v, b %v",
					promoted, flow, n, fa.dups, fb.dups, pub.shortWaits(),
					procMetric(t, a.addr, `herald_redis_wait_short_total{op="router"}`), procMetric(t, b.addr, `herald_redis_wait_short_total{op="router"}`))
				return
			}
			time.Sleep(10 * time.Second) // long enough to resume; measured, not asserted
			t.Logf("wait_replicas=0: replica promoted %v after kill -9; pushes flowing again after %v; acknowledged pushes lost: alice %d of %d, bob %d of %d",
				promoted, flow, len(fa.missing(n)), n, len(fb.missing(n)), n)
		})
	}
}

// gotAbove tells whether f received a seq above seq.
func (f *follower) gotAbove(seq int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.seqs {
		if s > seq {
			return true
		}
	}
	return false
}

// waitingPublisher is publisher with an id per push (a retry is a duplicate a
// client drops) and, with wait > 0, WAIT after each XADD on the same connection:
// a push counts as acknowledged only once wait replicas have it, what a service
// needs for a failover not to lose what it was told was accepted.
type waitingPublisher struct {
	*publisher
	replicas int
	mu       sync.Mutex
	short    int
}

func startWaitingPublisher(t *testing.T, rdb redis.UniversalClient, wait, n, rate int, users ...string) *waitingPublisher {
	wp := &waitingPublisher{publisher: &publisher{rdb: rdb, users: users, n: n, rate: rate, done: make(chan struct{})}, replicas: wait}
	go wp.run()
	t.Cleanup(func() { <-wp.done })
	return wp
}

func (wp *waitingPublisher) run() {
	defer close(wp.done)
	ctx := context.Background()
	const burst = 10
	every := time.Second * burst / time.Duration(wp.rate)
	for seq := 0; seq < wp.n; {
		for end := min(seq+burst, wp.n); seq < end; seq++ {
			for _, u := range wp.users {
				for !wp.add(ctx, u, seq) {
					time.Sleep(50 * time.Millisecond)
				}
			}
			wp.publisher.mu.Lock()
			wp.acked = seq + 1
			wp.publisher.mu.Unlock()
		}
		time.Sleep(every)
	}
}

// add appends one push and reports whether it is acknowledged.
func (wp *waitingPublisher) add(ctx context.Context, u string, seq int) bool {
	pipe, err := wp.pipeline(ctx)
	if err != nil {
		return false
	}
	add := pipe.XAdd(ctx, &redis.XAddArgs{Stream: "herald:in", Values: []any{"to", u, "id", fmt.Sprintf("%s-%d", u, seq), "data", fmt.Sprintf(`{"seq":%d}`, seq)}})
	var w *redis.Cmd
	if wp.replicas > 0 {
		w = pipe.Do(ctx, "wait", wp.replicas, 500)
	}
	_, _ = pipe.Exec(ctx)
	if add.Err() != nil {
		return false
	}
	if w != nil {
		if n, err := w.Int64(); err != nil || n < int64(wp.replicas) {
			wp.mu.Lock()
			wp.short++
			wp.mu.Unlock()
			return false
		}
	}
	return true
}

// pipeline is a pipeline on one connection to the ingress stream's master: on
// Redis Cluster, a keyless WAIT in a cluster pipeline would go to any master, so
// the XADD and its WAIT go to the stream's master's own client (which, unlike
// the cluster client, does not follow a MOVED).
func (wp *waitingPublisher) pipeline(ctx context.Context) (redis.Pipeliner, error) {
	cc, ok := wp.rdb.(*redis.ClusterClient)
	if !ok || wp.replicas == 0 {
		return wp.rdb.Pipeline(), nil
	}
	m, err := cc.MasterForKey(ctx, "herald:in")
	if err != nil {
		return nil, err
	}
	return m.Pipeline(), nil
}

func (wp *waitingPublisher) shortWaits() int {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	return wp.short
}
