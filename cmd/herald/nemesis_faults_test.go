package main

import (
	"fmt"
	"math/rand"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Fault kinds every topology offers: the herald nodes' own.
const (
	faultNodeKill = "node-kill" // kill -9, restart with the same node id after Hold
	faultNodeStop = "node-stop" // SIGSTOP for Hold (longer than cluster.node_ttl), then SIGCONT
)

// nemesisFault is one planned fault. At is its earliest start from the beginning of
// the fault phase; a fault starts later when the previous one took longer (a restart
// waits for readiness), so the plan, not the wall clock, is what the seed fixes.
type nemesisFault struct {
	At    time.Duration
	Kind  string
	Node  int // index into the cluster's nodes for node faults; into the replicas for replica faults
	Hold  time.Duration
	Burst int // position in a burst of Redis crashes (1, 2, 3), 0 otherwise
	Shard int // on a Redis Cluster, the shard (1 to 3, by first slot) of a Redis fault; 0 elsewhere
	Lane  int // the kind's lane: faults of one lane follow one another, lanes run side by side
}

func (f nemesisFault) String() string {
	s := fmt.Sprintf("%s @%v hold %v", f.Kind, f.At.Round(time.Millisecond), f.Hold.Round(time.Millisecond))
	if f.Kind == faultNodeKill || f.Kind == faultNodeStop {
		s += fmt.Sprintf(" node %d", f.Node)
	}
	if f.Shard > 0 {
		s += fmt.Sprintf(" shard %d", f.Shard)
	} else if f.Kind == faultReplicaKill {
		s += fmt.Sprintf(" replica %d", f.Node)
	}
	if f.Burst > 0 {
		s += fmt.Sprintf(" burst #%d", f.Burst)
	}
	return s
}

// nemesisFaultKind is one entry of a topology's fault menu: its lane, how often it
// is drawn (weight, out of its lane's total), how it is planned from the seed's
// random source (plan appends its faults from at and returns when the last one is
// over), and how it is applied to the running system.
//
// Faults of one lane follow one another; lanes run side by side. Lane 0 runs on
// the test goroutine (a Redis restart that fails calls t.Fatal), the others on
// their own goroutines, so they must not call t.Fatal. One lane (standalone) is
// the first nemesis: one fault at a time. The Sentinel topology puts node faults
// in lane 1, because its Redis faults wait until the group is whole again, which
// takes 8-18 s after a failover and would leave the nodes alone meanwhile; the
// Redis Cluster topology does the same.
type nemesisFaultKind struct {
	kind   string
	lane   int
	weight int
	plan   func(rng *rand.Rand, plan *[]nemesisFault, at time.Duration) time.Duration
	apply  func(nm *nemesis, f nemesisFault)
}

// nemesisPlan draws the faults of a run from the seed only: kinds, targets, holds
// and gaps, from the topology's menu, each lane from its own random source.
func nemesisPlan(seed int64, d time.Duration, menu []nemesisFaultKind) []nemesisFault {
	lanes := map[int][]nemesisFaultKind{}
	for _, k := range menu {
		lanes[k.lane] = append(lanes[k.lane], k)
	}
	var plan []nemesisFault
	for lane := 0; lane < len(lanes); lane++ {
		// Lane 0 draws from the seed itself: a one-lane menu replays the plans of
		// the first nemesis.
		rng := rand.New(rand.NewSource(seed + int64(lane)*1_000_003))
		plan = append(plan, planLane(rng, d, lanes[lane])...)
	}
	sort.SliceStable(plan, func(i, j int) bool { return plan[i].At < plan[j].At })
	return plan
}

// planLane draws one lane's faults, one after the other, until d.
func planLane(rng *rand.Rand, d time.Duration, menu []nemesisFaultKind) []nemesisFault {
	total := 0
	for _, k := range menu {
		total += k.weight
	}
	var plan []nemesisFault
	at := 3 * time.Second // clients and the publisher settle first
	for at < d {
		k := rng.Intn(total)
		for _, kind := range menu {
			if k < kind.weight {
				from := len(plan)
				at = kind.plan(rng, &plan, at)
				for i := from; i < len(plan); i++ {
					plan[i].Lane = kind.lane
				}
				break
			}
			k -= kind.weight
		}
		at += between(rng, time.Second, 4*time.Second) // gap before the next fault
	}
	return plan
}

// nodeKillFault: kill -9 of a node, restarted with the same id after 1-3 s.
func nodeKillFault(lane, weight, nodes int) nemesisFaultKind {
	return nemesisFaultKind{kind: faultNodeKill, lane: lane, weight: weight,
		plan: func(rng *rand.Rand, plan *[]nemesisFault, at time.Duration) time.Duration {
			hold := between(rng, time.Second, 3*time.Second)
			*plan = append(*plan, nemesisFault{At: at, Kind: faultNodeKill, Node: rng.Intn(nodes), Hold: hold})
			return at + hold
		},
		apply: func(nm *nemesis, f nemesisFault) {
			n := nm.cluster.nodes[f.Node]
			n.kill()
			time.Sleep(f.Hold)
			nm.startNode(n)
		}}
}

// nodeStopFault: SIGSTOP of a node past nodeTTL (it is declared dead), then SIGCONT.
func nodeStopFault(lane, weight, nodes int, nodeTTL time.Duration) nemesisFaultKind {
	return nemesisFaultKind{kind: faultNodeStop, lane: lane, weight: weight,
		plan: func(rng *rand.Rand, plan *[]nemesisFault, at time.Duration) time.Duration {
			hold := nodeTTL + between(rng, time.Second, 3*time.Second)
			*plan = append(*plan, nemesisFault{At: at, Kind: faultNodeStop, Node: rng.Intn(nodes), Hold: hold})
			return at + hold
		},
		apply: func(nm *nemesis, f nemesisFault) {
			n := nm.cluster.nodes[f.Node]
			n.signal(syscall.SIGSTOP, nodeStopped)
			time.Sleep(f.Hold)
			n.signal(syscall.SIGCONT, nodeUp)
		}}
}

// nemesis applies the plan from start, each lane's faults one after the other,
// until the plan or the fault phase ends. Lane 0 runs on the test goroutine: a
// Redis restart that fails fails the test (redistest calls t.Fatal).
type nemesis struct {
	t       *testing.T
	cluster *nemesisCluster
	rec     *nemesisRecorder
	kinds   map[string]nemesisFaultKind

	mu     sync.Mutex
	counts map[string]int
}

func newNemesis(t *testing.T, c *nemesisCluster, rec *nemesisRecorder, menu []nemesisFaultKind) *nemesis {
	nm := &nemesis{t: t, cluster: c, rec: rec, kinds: map[string]nemesisFaultKind{}, counts: map[string]int{}}
	for _, k := range menu {
		nm.kinds[k.kind] = k
	}
	return nm
}

// run applies the plan and returns when every lane is done.
func (nm *nemesis) run(plan []nemesisFault, start time.Time, end time.Time) {
	lanes := map[int][]nemesisFault{}
	for _, f := range plan {
		lanes[f.Lane] = append(lanes[f.Lane], f)
	}
	var wg sync.WaitGroup
	for lane, faults := range lanes {
		if lane == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			nm.runLane(faults, start, end)
		}()
	}
	nm.runLane(lanes[0], start, end)
	wg.Wait()
}

func (nm *nemesis) runLane(plan []nemesisFault, start time.Time, end time.Time) {
	for _, f := range plan {
		time.Sleep(time.Until(start.Add(f.At))) // not at all when behind the plan
		if time.Now().After(end) {
			return
		}
		nm.apply(f)
	}
}

func (nm *nemesis) apply(f nemesisFault) {
	nm.mu.Lock()
	nm.counts[f.Kind]++
	nm.mu.Unlock()
	target := "redis"
	if f.Kind == faultNodeKill || f.Kind == faultNodeStop {
		target = nm.cluster.nodes[f.Node].id
	}
	nm.rec.now(nemesisEvent{Ev: "fault", Kind: f.Kind, Node: target, Detail: "begin " + f.String()})
	nm.kinds[f.Kind].apply(nm, f)
	nm.rec.now(nemesisEvent{Ev: "fault", Kind: f.Kind, Node: target, Detail: "end"})
}

// startNode restarts a killed node. A node exits at start when it cannot reach
// Redis (a Redis fault of another lane may be under way): that is retried for up
// to a minute, as a supervisor would; a node still down then is an anomaly, and
// healing tries again at the end.
func (nm *nemesis) startNode(n *nemesisNode) {
	deadline := time.Now().Add(time.Minute)
	for {
		err := n.start(30 * time.Second)
		if err == nil {
			return
		}
		n.kill()
		if time.Now().After(deadline) {
			nm.rec.now(nemesisEvent{Ev: "anomaly", Node: n.id, Detail: "restart: " + err.Error()})
			return
		}
		nm.rec.now(nemesisEvent{Ev: "fault", Node: n.id, Detail: "restart failed, retrying in 1 s: " + err.Error()})
		time.Sleep(time.Second)
	}
}

// total is the number of faults applied.
func (nm *nemesis) total() int {
	nm.mu.Lock()
	defer nm.mu.Unlock()
	n := 0
	for _, c := range nm.counts {
		n += c
	}
	return n
}
