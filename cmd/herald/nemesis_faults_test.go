package main

import (
	"fmt"
	"math/rand"
	"syscall"
	"testing"
	"time"
)

// Fault kinds.
const (
	faultNodeKill  = "node-kill"  // kill -9, restart with the same node id after Hold
	faultNodeStop  = "node-stop"  // SIGSTOP for Hold (longer than cluster.node_ttl), then SIGCONT
	faultRedisKill = "redis-kill" // kill -9 of redis-server, restart from the AOF after Hold
	faultRedisStop = "redis-stop" // SIGSTOP of redis-server for Hold, then SIGCONT
)

// nemesisFault is one planned fault. At is its earliest start from the beginning of
// the fault phase; a fault starts later when the previous one took longer (a restart
// waits for readiness), so the plan, not the wall clock, is what the seed fixes.
type nemesisFault struct {
	At    time.Duration
	Kind  string
	Node  int // index into the cluster's nodes, for node faults
	Hold  time.Duration
	Burst int // position in a burst of Redis crashes (1, 2, 3), 0 otherwise
}

func (f nemesisFault) String() string {
	s := fmt.Sprintf("%s @%v hold %v", f.Kind, f.At.Round(time.Millisecond), f.Hold.Round(time.Millisecond))
	if f.Kind == faultNodeKill || f.Kind == faultNodeStop {
		s += fmt.Sprintf(" node %d", f.Node)
	}
	if f.Burst > 0 {
		s += fmt.Sprintf(" burst #%d", f.Burst)
	}
	return s
}

// nemesisPlan draws the faults of a run from the seed only: kinds, targets, holds
// and gaps. nodeTTL is cluster.node_ttl (a SIGSTOPped node must outlive it to be
// declared dead).
func nemesisPlan(seed int64, d time.Duration, nodes int, nodeTTL time.Duration) []nemesisFault {
	rng := rand.New(rand.NewSource(seed))
	var plan []nemesisFault
	at := 3 * time.Second // clients and the publisher settle first
	for at < d {
		switch k := rng.Intn(100); {
		case k < 35:
			hold := between(rng, time.Second, 3*time.Second)
			plan = append(plan, nemesisFault{At: at, Kind: faultNodeKill, Node: rng.Intn(nodes), Hold: hold})
			at += hold
		case k < 55:
			hold := nodeTTL + between(rng, time.Second, 3*time.Second)
			plan = append(plan, nemesisFault{At: at, Kind: faultNodeStop, Node: rng.Intn(nodes), Hold: hold})
			at += hold
		case k < 85:
			at = planRedisCrashes(rng, &plan, at)
		default:
			hold := between(rng, 2*time.Second, 5*time.Second)
			plan = append(plan, nemesisFault{At: at, Kind: faultRedisStop, Hold: hold})
			at += hold
		}
		at += between(rng, time.Second, 4*time.Second) // gap before the next fault
	}
	return plan
}

// planRedisCrashes adds one Redis crash, or one time in three a burst of 2 or 3
// crashes within 30 s, and returns when the last one is over.
func planRedisCrashes(rng *rand.Rand, plan *[]nemesisFault, at time.Duration) time.Duration {
	n := 1
	if rng.Intn(3) == 0 {
		n = 2 + rng.Intn(2)
	}
	for i := 0; i < n; i++ {
		if i > 0 {
			at += between(rng, 2*time.Second, 8*time.Second) // crashes 2 and 3 follow within 30 s
		}
		f := nemesisFault{At: at, Kind: faultRedisKill, Hold: between(rng, time.Second, 3*time.Second)}
		if n > 1 {
			f.Burst = i + 1
		}
		*plan = append(*plan, f)
		at += f.Hold
	}
	return at
}

// nemesis applies the plan from start, one fault after the other, until the plan or
// the fault phase ends. It runs on the test goroutine: a Redis restart that fails
// fails the test (redistest calls t.Fatal).
type nemesis struct {
	t       *testing.T
	cluster *nemesisCluster
	rec     *nemesisRecorder
	counts  map[string]int
}

func (nm *nemesis) run(plan []nemesisFault, start time.Time, end time.Time) {
	for _, f := range plan {
		time.Sleep(time.Until(start.Add(f.At))) // not at all when behind the plan
		if time.Now().After(end) {
			return
		}
		nm.apply(f)
	}
}

func (nm *nemesis) apply(f nemesisFault) {
	nm.counts[f.Kind]++
	target := "redis"
	if f.Kind == faultNodeKill || f.Kind == faultNodeStop {
		target = nm.cluster.nodes[f.Node].id
	}
	nm.rec.now(nemesisEvent{Ev: "fault", Kind: f.Kind, Node: target, Detail: "begin " + f.String()})
	switch f.Kind {
	case faultNodeKill:
		n := nm.cluster.nodes[f.Node]
		n.kill()
		time.Sleep(f.Hold)
		nm.startNode(n)
	case faultNodeStop:
		n := nm.cluster.nodes[f.Node]
		n.signal(syscall.SIGSTOP, nodeStopped)
		time.Sleep(f.Hold)
		n.signal(syscall.SIGCONT, nodeUp)
	case faultRedisKill:
		nm.cluster.redis.Kill()
		time.Sleep(f.Hold)
		nm.cluster.redis.Restart(nm.t)
	case faultRedisStop:
		pid, err := nm.cluster.redisPid()
		if err != nil {
			nm.rec.now(nemesisEvent{Ev: "anomaly", Kind: f.Kind, Detail: "redis pid: " + err.Error()})
			return
		}
		_ = syscall.Kill(pid, syscall.SIGSTOP)
		time.Sleep(f.Hold)
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
	nm.rec.now(nemesisEvent{Ev: "fault", Kind: f.Kind, Node: target, Detail: "end"})
}

// startNode restarts a killed node; a node that does not come up is retried, and
// recorded, since healing checks again at the end.
func (nm *nemesis) startNode(n *nemesisNode) {
	for try := 0; try < 3; try++ {
		err := n.start(30 * time.Second)
		if err == nil {
			return
		}
		nm.rec.now(nemesisEvent{Ev: "anomaly", Node: n.id, Detail: "restart: " + err.Error()})
		n.kill()
	}
}
