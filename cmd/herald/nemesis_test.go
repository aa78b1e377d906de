package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The nemesis: a seeded, reproducible randomized fault test. Three herald processes
// and a Redis topology (-nemesis.redis: one append-only server, a master with two
// replicas behind three Sentinels, or a Redis Cluster of three masters with a
// replica each) take node kills, node SIGSTOPs past
// cluster.node_ttl and the topology's Redis faults, while a publisher appends user
// pushes and every user's client comes and goes as PROTOCOL.md lets it. After the
// faults stop and everything runs again, every acknowledged push must have reached
// its user.
//
//	go test ./cmd/herald -run 'TestNemesis(Sentinel)?$' -count=1 -v       # the CI runs
//	go test ./cmd/herald -run 'TestNemesis$' -count=1 -v -timeout 40m \
//	    -nemesis.redis sentinel -nemesis.duration 30m -nemesis.seed 7 -nemesis.rate 150  # a long run
//	go test ./cmd/herald -run 'TestNemesis$' -count=1 -v -nemesis.redis cluster  # Redis Cluster: not in make test
var (
	nemesisTopology = flag.String("nemesis.redis", "standalone", "nemesis: the Redis under test in TestNemesis: standalone, sentinel or cluster")
	nemesisSeed     = flag.Int64("nemesis.seed", 20261202, "nemesis: seed of the fault plan and the clients")
	nemesisDuration = flag.Duration("nemesis.duration", 45*time.Second, "nemesis: how long faults are injected")
	nemesisUsers    = flag.Int("nemesis.users", 30, "nemesis: users, one client each")
	nemesisRate     = flag.Int("nemesis.rate", 40, "nemesis: user pushes published per second")
	nemesisRecord   = flag.String("nemesis.record", "", "nemesis: write the run record (JSON lines) here and keep it with the node logs beside it (default: a temporary directory, removed when the run passes)")
)

const nemesisHealTimeout = 60 * time.Second // after healing, clients have this long to get everything

// TestNemesis runs the topology -nemesis.redis names (standalone by default). It
// is the only entry point of the Redis Cluster variant (-nemesis.redis cluster):
// make test's time is spent, and a test that skipped itself there unless a flag
// or a variable were set would pass in CI without ever running.
func TestNemesis(t *testing.T) { runNemesis(t, *nemesisTopology) }

// TestNemesisSentinel is the Sentinel run of make test: failovers under
// redis.wait_replicas 1 must lose nothing either.
func TestNemesisSentinel(t *testing.T) { runNemesis(t, "sentinel") }

func runNemesis(t *testing.T, topology string) {
	if testing.Short() {
		t.Skip("the nemesis runs for a minute at least")
	}
	r := setUpNemesis(t, topology)
	r.inject()
	r.heal()
	res := r.check()
	r.report(res)
}

// nemesisRun is one run: the system, the actors around it, and what they recorded.
type nemesisRun struct {
	t        *testing.T
	topology string // the -nemesis.redis value
	seed     int64
	duration time.Duration
	rate     int
	start    time.Time
	dir      string // node logs and redis.log are kept here
	rec      *nemesisRecorder
	cluster  *nemesisCluster
	clients  map[string]*nemesisClient
	users    []string
	pub      *nemesisPublisher
	obs      *nemesisObserver
	nm       *nemesis
	plan     []nemesisFault

	stopPub     chan struct{}
	stopClients chan struct{}
	pubOnce     sync.Once
	clientsOnce sync.Once
}

func setUpNemesis(t *testing.T, topology string) *nemesisRun {
	r := &nemesisRun{t: t, topology: topology, seed: *nemesisSeed, duration: *nemesisDuration, rate: *nemesisRate, start: time.Now(),
		clients: map[string]*nemesisClient{}, stopPub: make(chan struct{}), stopClients: make(chan struct{})}
	recordPath := r.recordPath()
	rec, err := newNemesisRecorder(recordPath, r.start)
	if err != nil {
		t.Fatal(err)
	}
	r.rec = rec
	t.Cleanup(rec.close)
	t.Logf("nemesis on %s Redis, seed %d, %v of faults, %d users, %d pushes/s; record %s", topology, r.seed, r.duration, *nemesisUsers, r.rate, recordPath)
	rec.now(nemesisEvent{Ev: "start", Detail: fmt.Sprintf("redis=%s seed=%d duration=%v users=%d rate=%d start=%s",
		topology, r.seed, r.duration, *nemesisUsers, r.rate, r.start.Format(time.RFC3339Nano))})

	bin := nemesisBinary(t, t.TempDir())
	red := startNemesisRedis(t, topology, rec)
	t.Cleanup(func() { red.keepLogs(r.dir) })
	r.cluster = &nemesisCluster{redis: red}
	// A large history, so that every user's whole run stays in it: a lost push's
	// history entries can then be looked up at the end, and a client away for a few
	// seconds never meets a trimmed history (complete:false).
	flags := append(append(red.nodeFlags(), fastCluster...), "--history.size", "100000")
	for _, id := range []string{"n1", "n2", "n3"} {
		n := newNemesisNode(t, bin, id, r.dir, flags)
		if err := n.start(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		r.cluster.nodes = append(r.cluster.nodes, n)
	}
	menu := red.faults(len(r.cluster.nodes), nodeTTL())
	r.plan = nemesisPlan(r.seed, r.duration, menu)
	r.nm = newNemesis(t, r.cluster, rec, menu)
	for _, f := range r.plan {
		rec.now(nemesisEvent{Ev: "plan", Kind: f.Kind, Detail: f.String()})
	}
	r.startClients(*nemesisUsers)
	r.obs = newNemesisObserver(red, rec, r.users, []string{"n1", "n2", "n3"})
	go r.obs.run(r.stopClients)
	r.pub = newNemesisPublisher(red.client(time.Second, 2), rec, r.users, r.rate, red.publishWait())
	go r.pub.run(r.stopPub)
	// Runs before the nodes and Redis are stopped (cleanups run last-in first-out),
	// also when the test failed half-way.
	t.Cleanup(r.stopActors)
	return r
}

// recordPath is the -nemesis.record file, or record.jsonl in a temporary directory
// that is removed when the run passes. Node logs go next to it.
func (r *nemesisRun) recordPath() string {
	if *nemesisRecord != "" {
		p, _ := filepath.Abs(*nemesisRecord)
		r.dir = p + ".logs"
		if err := os.MkdirAll(r.dir, 0o755); err != nil {
			r.t.Fatal(err)
		}
		return p
	}
	dir, err := os.MkdirTemp("", fmt.Sprintf("herald-nemesis-%d-", r.seed))
	if err != nil {
		r.t.Fatal(err)
	}
	r.dir = dir
	r.t.Cleanup(func() {
		if !r.t.Failed() {
			_ = os.RemoveAll(dir)
		}
	})
	return filepath.Join(dir, "record.jsonl")
}

// nodeTTL is the cluster.node_ttl the nodes run with.
func nodeTTL() time.Duration {
	for i, a := range fastCluster {
		if a == "--cluster.node_ttl" && i+1 < len(fastCluster) {
			if d, err := time.ParseDuration(fastCluster[i+1]); err == nil {
				return d
			}
		}
	}
	return 15 * time.Second // the default
}

// startClients starts one client per user; every fifth one is a slow reader.
func (r *nemesisRun) startClients(n int) {
	for i := 0; i < n; i++ {
		u := fmt.Sprintf("user%d", i)
		c := newNemesisClient(u, r.seed*1000+int64(i), r.cluster, r.rec, i%5 == 4)
		r.users = append(r.users, u)
		r.clients[u] = c
		go c.run(r.stopClients)
	}
}

// stopActors stops the publisher and the clients and waits for them.
func (r *nemesisRun) stopActors() {
	r.stopPublisher()
	r.stopAllClients()
}

func (r *nemesisRun) stopPublisher() {
	r.pubOnce.Do(func() {
		close(r.stopPub)
		select {
		case <-r.pub.done:
		case <-time.After(10 * time.Second): // an XADD times out after 2 s
			r.t.Errorf("the publisher did not stop")
		}
	})
}

// stopAllClients stops the clients and the observer. It is bounded: a leaving client gives a node one second to answer its
// close.
func (r *nemesisRun) stopAllClients() {
	r.clientsOnce.Do(func() {
		close(r.stopClients)
		deadline := time.After(30 * time.Second)
		select {
		case <-r.obs.done:
		case <-deadline:
			r.t.Errorf("the observer did not stop")
		}
		for _, u := range r.users {
			select {
			case <-r.clients[u].done:
			case <-deadline:
				r.t.Errorf("client %s did not stop within 30 s", u)
			}
		}
	})
}

// inject runs the fault plan for the run's duration.
func (r *nemesisRun) inject() {
	faultsStart := time.Now()
	end := faultsStart.Add(r.duration)
	r.nm.run(r.plan, faultsStart, end)
	time.Sleep(time.Until(end))
	r.stopPublisher()
	r.rec.now(nemesisEvent{Ev: "heal", Detail: "faults and publishing stopped"})
}

// heal makes sure Redis and every node run, then gives the clients until the heal
// timeout to get every acknowledged push of their user.
func (r *nemesisRun) heal() {
	r.ensureRunning()
	pubs := r.pubsByUser()
	deadline := time.Now().Add(nemesisHealTimeout)
	for time.Now().Before(deadline) && !r.allComplete(pubs) {
		time.Sleep(250 * time.Millisecond)
	}
	r.rec.now(nemesisEvent{Ev: "heal", Detail: fmt.Sprintf("clients complete: %v", r.allComplete(pubs))})
	r.stopAllClients()
}

func (r *nemesisRun) ensureRunning() {
	r.cluster.redis.heal(r.t, r.rec)
	for _, n := range r.cluster.nodes {
		if n.exited() {
			r.t.Errorf("node %s exited by itself: %v (log %s)", n.id, n.exitErr(), filepath.Join(r.dir, n.id+".log"))
			r.rec.now(nemesisEvent{Ev: "anomaly", Node: n.id, Detail: "exited by itself"})
		}
		if !n.isUp() || n.exited() {
			n.signal(syscall.SIGCONT, nodeStopped) // harmless when not stopped
			n.kill()
			if err := n.start(30 * time.Second); err != nil {
				r.t.Fatalf("healing: %v", err)
			}
		}
	}
	// After a Redis restart the loops back off for up to 5 s before they see it again.
	for _, n := range r.cluster.nodes {
		deadline := time.Now().Add(30 * time.Second)
		for err := nemesisReady(n.addr); err != nil; err = nemesisReady(n.addr) {
			if time.Now().After(deadline) {
				r.t.Fatalf("healing: %s not ready within 30 s: %v", n.id, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	r.rec.now(nemesisEvent{Ev: "heal", Detail: "redis and every node ready"})
}

func (r *nemesisRun) pubsByUser() map[string][]nemesisPub {
	out := map[string][]nemesisPub{}
	for _, p := range r.pub.acked() {
		out[p.User] = append(out[p.User], p)
	}
	return out
}

func (r *nemesisRun) allComplete(pubs map[string][]nemesisPub) bool {
	for u, ps := range pubs {
		if !r.clients[u].hasAll(ps) {
			return false
		}
	}
	return true
}

// nemesisResult is what the checker found.
type nemesisResult struct {
	acked, failedPubs     int
	retries, shortWaits   int // publish attempts tried again; attempts whose WAIT fell short
	lost                  []nemesisPub
	idMismatch            []string // seq whose first copy's id is not the id it was published under
	dups, late, wrongUser int
	lateFirst             int // late pushes that were the first copy of their id
	idClash               int
	sessions, dropped     int
	maxDelay              time.Duration
	maxDelaySeq           int
	maxDelayUser          string
	anomalies             []string
	delays                []time.Duration
}

// check compares what was acknowledged with what the clients received.
func (r *nemesisRun) check() nemesisResult {
	var res nemesisResult
	pubs := r.pub.acked()
	res.acked = len(pubs)
	res.failedPubs, res.retries, res.shortWaits = r.pub.stats()
	for _, p := range pubs {
		a, ok := r.clients[p.User].arrival(p.Seq)
		if !ok {
			res.lost = append(res.lost, p)
			continue
		}
		if a.ID != p.ID {
			res.idMismatch = append(res.idMismatch, fmt.Sprintf("seq %d: id %s, published as %s (ingress %s)", p.Seq, a.ID, p.ID, p.Ingress))
		}
		d := a.At.Sub(p.At)
		res.delays = append(res.delays, d)
		if d > res.maxDelay {
			res.maxDelay, res.maxDelaySeq, res.maxDelayUser = d, p.Seq, p.User
		}
	}
	for _, u := range r.users {
		c := r.clients[u]
		c.mu.Lock()
		res.dups += c.dups
		res.late += c.late
		res.lateFirst += c.lateFirst
		res.wrongUser += c.wrongUser
		res.idClash += c.idClash
		res.sessions += c.sessions
		res.dropped += c.dropped
		c.mu.Unlock()
	}
	r.rec.flush()
	_ = readNemesisRecord(r.rec.path, func(e nemesisEvent) {
		if e.Ev == "anomaly" {
			res.anomalies = append(res.anomalies, fmt.Sprintf("t=%s %s %s: %s", runTime(e.T), e.User, e.Node, e.Detail))
		}
	})
	return res
}

func runTime(ms int64) string { return fmt.Sprintf("%.3fs", float64(ms)/1000) }

// report logs the figures, traces each lost push, and fails the run with the
// command that reproduces it.
func (r *nemesisRun) report(res nemesisResult) {
	t := r.t
	summary := r.summary(res)
	t.Log("nemesis: " + summary)
	r.rec.now(nemesisEvent{Ev: "end", Detail: summary})
	for i, a := range res.anomalies {
		if i == 20 {
			t.Logf("... %d more anomalies in the record", len(res.anomalies)-i)
			break
		}
		t.Log("anomaly: " + a)
	}
	episodes := lossEpisodes(r.pubsByUser(), res.lost)
	for i, ep := range episodes {
		if i == 10 {
			t.Logf("... %d more loss episodes: see the record", len(episodes)-i)
			break
		}
		t.Logf("loss episode %d of %d: %s lost %d consecutive pushes, seq %d to %d; the first one:\n%s",
			i+1, len(episodes), ep[0].User, len(ep), ep[0].Seq, ep[len(ep)-1].Seq, r.traceLost(ep[0]))
	}
	r.rec.flush()
	t.Logf("record: %s (node logs and Redis logs in %s)", r.rec.path, r.dir)
	failed := len(res.lost) > 0 || res.wrongUser > 0 || res.idClash > 0 || len(res.idMismatch) > 0
	if len(res.idMismatch) > 0 {
		t.Logf("pushes whose id is not the id they were published under: %v", res.idMismatch[:min(10, len(res.idMismatch))])
	}
	if failed || t.Failed() {
		t.Errorf("nemesis failed with seed %d; rerun with:\n  go test ./cmd/herald -run 'TestNemesis$' -count=1 -v -timeout %v "+
			"-nemesis.redis %s -nemesis.seed %d -nemesis.duration %v -nemesis.users %d -nemesis.rate %d",
			r.seed, (r.duration + 10*time.Minute).Round(time.Minute), r.topology, r.seed, r.duration, len(r.users), r.rate)
	}
}

// summary is the run's figures in one line.
func (r *nemesisRun) summary(res nemesisResult) string {
	sort.Slice(res.delays, func(i, j int) bool { return res.delays[i] < res.delays[j] })
	p99 := time.Duration(0)
	if len(res.delays) > 0 {
		p99 = res.delays[len(res.delays)*99/100]
	}
	pubs := fmt.Sprintf("%d XADDs failed", res.failedPubs)
	if r.pub.wait > 0 {
		pubs = fmt.Sprintf("%d publishes not acknowledged after %d attempts; %d attempts retried, %d of them after a short WAIT",
			res.failedPubs, nemesisPublishAttempts, res.retries, res.shortWaits)
	}
	return fmt.Sprintf("redis %s; faults %d %v; pushes acknowledged %d (%s); lost %d (%d episodes); duplicates %d (seen before dedupe); "+
		"late in a session %d (%d a push's first copy); wrong user %d; one seq under two ids %d; sessions %d (%d dropped by the server); "+
		"delay p99 %v, max %v (seq %d, %s); anomalies %d",
		r.topology, r.nm.total(), r.nm.counts, res.acked, pubs, len(res.lost), len(lossEpisodes(r.pubsByUser(), res.lost)), res.dups, res.late, res.lateFirst, res.wrongUser,
		res.idClash, res.sessions, res.dropped, p99.Round(time.Millisecond), res.maxDelay.Round(time.Millisecond),
		res.maxDelaySeq, res.maxDelayUser, len(res.anomalies))
}

// lossEpisodes groups the lost pushes into runs of one user's consecutive
// acknowledged pushes: one fault usually loses a run, and one trace explains it.
func lossEpisodes(byUser map[string][]nemesisPub, lost []nemesisPub) [][]nemesisPub {
	isLost := map[int]bool{}
	for _, p := range lost {
		isLost[p.Seq] = true
	}
	var out [][]nemesisPub
	for _, u := range sortedKeys(byUser) {
		var run []nemesisPub
		for _, p := range byUser[u] {
			if isLost[p.Seq] {
				run = append(run, p)
				continue
			}
			if len(run) > 0 {
				out = append(out, run)
				run = nil
			}
		}
		if len(run) > 0 {
			out = append(out, run)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0].At.Before(out[j][0].At) })
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
