package main

import (
	"context"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/streams"
)

// nemesisObserver samples the cluster's state in Redis five times a second and
// records every change: which nodes are listed (a node reaped leaves herald:nodes),
// whether each node's inbox exists (the reaper deletes it), who holds the ingress
// lease, and each user's presence set. Clients see only frames; these changes are
// what explains why a push went where it went.
type nemesisObserver struct {
	rdb   redis.UniversalClient
	topo  func(context.Context) map[string]string // the topology's own state (which server is master)
	rec   *nemesisRecorder
	users []string
	nodes []string
	done  chan struct{}
}

// newNemesisObserver takes over rdb and closes it when it stops.
func newNemesisObserver(r nemesisRedis, rec *nemesisRecorder, users, nodes []string) *nemesisObserver {
	return &nemesisObserver{rdb: r.client(300*time.Millisecond, 1), topo: r.observe, rec: rec, users: users, nodes: nodes, done: make(chan struct{})}
}

func (o *nemesisObserver) run(stop <-chan struct{}) {
	defer close(o.done)
	defer o.rdb.Close()
	prev := map[string]string{}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		at := time.Now()
		state := o.topology()
		if sampled, ok := o.sample(); ok { // else Redis is down or stopped: nothing to compare
			maps.Copy(state, sampled)
		}
		for k, v := range state {
			if prev[k] != v {
				e := nemesisEvent{Ev: "observe", Kind: k, Detail: v}
				if u, isUser := strings.CutPrefix(k, "presence:"); isUser {
					e.User = u
				}
				o.rec.add(at, e)
				prev[k] = v
			}
		}
	}
}

// topology returns the topology's own state, also while its master is down.
func (o *nemesisObserver) topology() map[string]string {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	state := map[string]string{}
	maps.Copy(state, o.topo(ctx))
	return state
}

// sample reads the state in one pipeline; ok is false when any read failed.
func (o *nemesisObserver) sample() (map[string]string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	pipe := o.rdb.Pipeline()
	nodes := pipe.ZRange(ctx, "herald:nodes", 0, -1)
	lease := pipe.Get(ctx, nemesisLeaseKey)
	inboxes := map[string]*redis.IntCmd{}
	for _, n := range o.nodes {
		inboxes[n] = pipe.Exists(ctx, "herald:{n:"+n+"}:in")
	}
	presence := map[string]*redis.StringSliceCmd{}
	for _, u := range o.users {
		presence[u] = pipe.SMembers(ctx, "herald:{u:"+u+"}:p")
	}
	_, _ = pipe.Exec(ctx)
	if nodes.Err() != nil || (lease.Err() != nil && lease.Err() != redis.Nil) {
		return nil, false
	}
	state := map[string]string{"nodes": sortedJoin(nodes.Val()), "lease": lease.Val()}
	for n, c := range inboxes {
		if c.Err() != nil {
			return nil, false
		}
		state["inbox:"+n] = map[bool]string{true: "exists", false: "absent"}[c.Val() == 1]
	}
	for u, c := range presence {
		if c.Err() != nil {
			return nil, false
		}
		state["presence:"+u] = sortedJoin(c.Val())
	}
	return state, true
}

// nemesisLeaseKey is the ingress lease as the nodes name it (one partition,
// prefix herald): "herald:in:lease", what the observer read before, is no key
// of theirs, and its record never showed a lease holder.
var nemesisLeaseKey = streams.NewKeys("herald", 1).Lease(0)

func sortedJoin(s []string) string {
	sort.Strings(s)
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ",")
}
