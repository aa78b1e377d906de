package main

// Herald on Redis Cluster (redis.addrs): a real 3-master cluster from
// redistest.StartCluster, with herald nodes in-process and as processes. Every
// test also checks that no node met a CROSSSLOT error (in its log) and that
// herald_redis_errors_total stayed at zero.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

// clusterFlags are the flags that put a node on the cluster.
func clusterFlags(cl *redistest.Cluster) []string {
	return []string{"--redis.addrs", strings.Join(cl.Addrs, ",")}
}

// logRecorder keeps everything a node logs (for CROSSSLOT checks) and passes it
// on to the test log.
type logRecorder struct {
	t   *testing.T
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logRecorder) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf.Write(p)
	l.mu.Unlock()
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (l *logRecorder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// clusterTestNode is an in-process node on Redis Cluster and what it logged.
type clusterTestNode struct {
	*testNode
	id  string
	log *logRecorder
}

// startClusterNode is startTestNode for a cluster: the node gets --redis.addrs
// (a go-redis ClusterClient of its own) and node id id.
func startClusterNode(t *testing.T, cl *redistest.Cluster, id string, flags ...string) *clusterTestNode {
	t.Helper()
	args := append(clusterFlags(cl), "--node.id", id, "--auth.hmac_secret", testSecret,
		"--server.addr", "127.0.0.1:0", "--streams.block", "200ms", "--shutdown.timeout", "10s")
	args = append(args, flags...)
	cfg, err := config.Load(args, nil)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	rec := &logRecorder{t: t}
	log := slog.New(slog.NewTextHandler(rec, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n, err := startNode(context.Background(), cfg, log, nodeOptions{})
	if err != nil {
		t.Fatalf("start node %s: %v", id, err)
	}
	if _, ok := n.rdb.(*redis.ClusterClient); !ok {
		t.Fatalf("node %s uses a %T, want a *redis.ClusterClient for redis.addrs", id, n.rdb)
	}
	tn := &testNode{node: n, t: t}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Errorf("stop node %s: %v", id, err)
		}
	})
	waitReady(t, tn)
	return &clusterTestNode{testNode: tn, id: id, log: rec}
}

// xaddTo appends an ingress entry the way a publishing service does on a
// partitioned ingress: to the recipient's partition stream.
func xaddTo(t *testing.T, rdb redis.UniversalClient, keys streams.Keys, user string, fields ...any) string {
	t.Helper()
	fields = append([]any{"to", user}, fields...)
	id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: keys.IngressFor(wire.User(user)), Values: fields}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// assertNoClusterErrors fails when a node logged CROSSSLOT (or any other
// cluster redirection failure) or counted a failed Redis operation.
func assertNoClusterErrors(t *testing.T, name, log string, n *testNode) {
	t.Helper()
	for _, bad := range []string{"CROSSSLOT", "MOVED", "ASK ", "CLUSTERDOWN", "TRYAGAIN"} {
		if strings.Contains(log, bad) {
			t.Errorf("node %s logged %s:\n%s", name, bad, log)
		}
	}
	if v := metricValue(t, n, "herald_redis_errors_total"); v != 0 {
		t.Errorf("node %s: herald_redis_errors_total = %v, want 0", name, v)
	}
}

// usersPerPartition returns one user id for each ingress partition.
func usersPerPartition(keys streams.Keys) []string {
	users := make([]string, keys.Partitions())
	found := 0
	for i := 0; found < len(users); i++ {
		u := fmt.Sprint("user", i)
		if p := keys.Partition(wire.User(u)); users[p] == "" {
			users[p] = u
			found++
		}
	}
	return users
}

// With streams.partitions 3 on a 3-master cluster, each ingress partition (and its
// lease) lives on its own master; pushes XADDed to the partition a publisher
// computes, and those POSTed to /v1/publish, reach their users.
func TestRedisClusterPartitionsSpreadOverMasters(t *testing.T) {
	cl := redistest.StartCluster(t)
	cc := cl.Client(t)
	ctx := context.Background()
	n := startClusterNode(t, cl, "a", "--streams.partitions", "3", "--publish.api_key", "k-cluster")
	keys := streams.NewKeys("herald", 3) // what a publisher computes

	masters := map[string]int{}
	for p := 0; p < keys.Partitions(); p++ {
		key := keys.Ingress(p)
		slot, err := cc.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		m, err := cc.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		lm, err := cc.MasterForKey(ctx, keys.Lease(p))
		if err != nil {
			t.Fatal(err)
		}
		if lm.Options().Addr != m.Options().Addr {
			t.Fatalf("lease %s on %s, its partition %s on %s", keys.Lease(p), lm.Options().Addr, key, m.Options().Addr)
		}
		t.Logf("partition %d: %s slot %d on master %s", p, key, slot, m.Options().Addr)
		if prev, ok := masters[m.Options().Addr]; ok {
			t.Fatalf("partitions %d and %d share master %s", prev, p, m.Options().Addr)
		}
		masters[m.Options().Addr] = p
	}
	// The node holds every lease and has created the group on every partition.
	testkit.Eventually(t, 10*time.Second, func() error {
		for p := 0; p < keys.Partitions(); p++ {
			if h, _ := cc.Get(ctx, keys.Lease(p)).Result(); h != "a" {
				return fmt.Errorf("lease of partition %d held by %q", p, h)
			}
			groups, err := cc.XInfoGroups(ctx, keys.Ingress(p)).Result()
			if err != nil || len(groups) != 1 || groups[0].Name != "router" {
				return fmt.Errorf("groups of %s: %v %v", keys.Ingress(p), groups, err)
			}
		}
		return nil
	})

	users := usersPerPartition(keys)
	clients := map[string]*wsClient{}
	for _, u := range users {
		clients[u] = connect(t, n.testNode, u, "")
	}
	for _, u := range users {
		waitPresence(t, cc, u, "a")
	}
	// XADD to the partition stream, as a service would.
	for _, u := range users {
		xaddTo(t, cc, keys, u, "data", fmt.Sprintf(`{"via":"xadd","user":%q}`, u), "id", "x-"+u)
	}
	// POST /v1/publish partitions by itself.
	url := "http://" + n.Addr() + "/v1/publish"
	for _, u := range users {
		status, body := post(t, url, "k-cluster", fmt.Sprintf(`{"to":%q,"data":{"via":"http"},"id":"h-%s"}`, u, u))
		if status != http.StatusAccepted || body["id"] == "" {
			t.Fatalf("publish to %s: %d %v", u, status, body)
		}
		// The entry is in the user's partition stream.
		msgs, err := cc.XRange(ctx, keys.IngressFor(wire.User(u)), body["id"], body["id"]).Result()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("entry %s of %s not in %s: %v %v", body["id"], u, keys.IngressFor(wire.User(u)), msgs, err)
		}
	}
	for p, u := range users {
		got := clients[u].pushes(2, 10*time.Second)
		if got[0].str("id") != "x-"+u || got[1].str("id") != "h-"+u || got[0].str("to") != u {
			t.Fatalf("%s (partition %d) got %v", u, p, got)
		}
		clients[u].quiet(100 * time.Millisecond)
		if l, _ := cc.XLen(ctx, keys.Ingress(p)).Result(); l != 2 {
			t.Fatalf("partition %d holds %d entries, want 2", p, l)
		}
	}
	assertNoClusterErrors(t, "a", n.log.String(), n.testNode)
}

// Two nodes on the cluster: a user push reaches every session of the user on both
// nodes and nobody else; a client that resumes with since on the other node gets
// the replay, recovered, then live pushes.
func TestRedisClusterUnicastIsolationAndResume(t *testing.T) {
	cl := redistest.StartCluster(t)
	cc := cl.Client(t)
	ctx := context.Background()
	a := startClusterNode(t, cl, "a", "--streams.partitions", "3")
	b := startClusterNode(t, cl, "b", "--streams.partitions", "3")
	keys := streams.NewKeys("herald", 3)

	alice1 := connect(t, a.testNode, "alice", "")
	alice2 := connect(t, b.testNode, "alice", "")
	bob := connect(t, b.testNode, "bob", "")
	carol := connect(t, a.testNode, "carol", "")
	waitPresence(t, cc, "alice", "a")
	waitPresence(t, cc, "alice", "b")
	waitPresence(t, cc, "bob", "b")
	waitPresence(t, cc, "carol", "a")
	var holders []string
	for p := 0; p < 3; p++ {
		h, _ := cc.Get(ctx, keys.Lease(p)).Result()
		holders = append(holders, h)
	}
	t.Logf("partition leases held by %v; alice is in partition %d, bob in %d", holders,
		keys.Partition(wire.User("alice")), keys.Partition(wire.User("bob")))

	const count = 50
	for i := 0; i < count; i++ {
		xaddTo(t, cc, keys, "alice", "data", fmt.Sprintf(`{"seq":%d}`, i))
	}
	xaddTo(t, cc, keys, "bob", "data", `{"for":"bob"}`, "from", "carol", "id", "m-1")

	var got2 []frame
	for name, c := range map[string]*wsClient{"alice on a": alice1, "alice on b": alice2} {
		got := c.pushes(count, 10*time.Second)
		for i, p := range got {
			if seqOf(t, p) != i || p.str("to") != "alice" || p.str("offset") == "" {
				t.Fatalf("%s: push %d = %v, want seq %d to alice", name, i, p, i)
			}
		}
		if c == alice2 {
			got2 = got
		}
	}
	if p := bob.pushes(1, 5*time.Second)[0]; p.str("id") != "m-1" || p.str("from") != "carol" || p.str("to") != "bob" {
		t.Fatalf("bob's push %v", p)
	}
	bob.quiet(200 * time.Millisecond)
	carol.quiet(100 * time.Millisecond)
	alice1.quiet(100 * time.Millisecond)

	// alice's client on b handled 0..29 when it lost the connection; it resumes on a.
	last := got2[29].str("offset")
	alice2.close()
	for i := count; i < count+10; i++ {
		xaddTo(t, cc, keys, "alice", "data", fmt.Sprintf(`{"seq":%d}`, i))
	}
	resumed := connect(t, a.testNode, "alice", "since="+url.QueryEscape(last))
	next, recovered := 30, false
	for next < count+10 || !recovered {
		f := resumed.next(10 * time.Second)
		switch f.str("type") {
		case "recovered":
			if recovered || f["complete"] != true || f.str("to") != "alice" {
				t.Fatalf("bad recovered frame %v", f)
			}
			recovered = true
		case "push":
			if seqOf(t, f) != next {
				t.Fatalf("resumed: got %v, want seq %d", f, next)
			}
			next++
		default:
			t.Fatalf("unexpected frame %v", f)
		}
	}
	xaddTo(t, cc, keys, "alice", "data", fmt.Sprintf(`{"seq":%d}`, count+10))
	if live := resumed.pushes(1, 10*time.Second)[0]; seqOf(t, live) != count+10 {
		t.Fatalf("live push %v, want seq %d", live, count+10)
	}
	if live := alice1.pushes(11, 10*time.Second); seqOf(t, live[len(live)-1]) != count+10 {
		t.Fatalf("alice on a ended at %v", live[len(live)-1])
	}
	resumed.quiet(100 * time.Millisecond)
	// b's sessions were served through b's inbox stream (a held every lease) or by
	// b's own router: either way one node routed for the other's sessions.
	if ia, ib := metricValue(t, a.testNode, "herald_inbox_entries_total"), metricValue(t, b.testNode, "herald_inbox_entries_total"); ia+ib == 0 {
		t.Fatalf("no push crossed nodes through an inbox (a %v, b %v)", ia, ib)
	}
	assertNoClusterErrors(t, "a", a.log.String(), a.testNode)
	assertNoClusterErrors(t, "b", b.log.String(), b.testNode)
}

// TestKillNodeHoldingTheSession on Redis Cluster: two herald processes, a client
// on a with failover to b; a is killed -9 while pushes flow; every push arrives,
// and b reaps a (presence, inbox, recipient index, node entry) across the masters.
func TestRedisClusterKillNodeHoldingTheSession(t *testing.T) {
	cl := redistest.StartCluster(t)
	cc := cl.Client(t)
	ctx := context.Background()
	flags := append(append([]string{}, fastCluster...), "--streams.partitions", "3")
	a := startProc(t, clusterFlags(cl), "a", flags...)
	b := startProc(t, clusterFlags(cl), "b", flags...)
	keys := streams.NewKeys("herald", 3)
	f := follow(t, "alice", a.addr, b.addr)
	waitPresence(t, cc, "alice", "a")

	const n = 3000
	pub := startPublisherTo(t, cc, keys, n, 1000, "alice")
	testkit.Eventually(t, 30*time.Second, func() error {
		if got := pub.progress(); got < n/3 {
			return fmt.Errorf("published %d of %d", got, n/3)
		}
		return nil
	})
	a.kill()
	killed := time.Now()
	// b notices a is gone after cluster.node_ttl and cleans up after it; watched
	// while the pushes are delivered.
	reapedAt, stop := make(chan time.Duration, 1), make(chan struct{})
	t.Cleanup(func() { close(stop) }) // runs before cc is closed
	go func() {
		defer close(reapedAt)
		for deadline := killed.Add(30 * time.Second); time.Now().Before(deadline); {
			if _, err := cc.ZScore(ctx, keys.Nodes(), "a").Result(); err == redis.Nil {
				reapedAt <- time.Since(killed)
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	pub.wait(t, 60*time.Second)
	f.waitAll(n, 60*time.Second)
	delivered := time.Since(killed)
	reaped, ok := <-reapedAt
	if !ok {
		t.Fatalf("a still in %s 30s after the kill", keys.Nodes())
	}
	if ok, _ := cc.SIsMember(ctx, keys.Presence(wire.User("alice")), "a").Result(); ok {
		t.Fatal("a still in alice's presence")
	}
	testkit.Eventually(t, 10*time.Second, func() error { // a late append may recreate the inbox; it is swept again
		for _, k := range []string{keys.Inbox("a"), keys.NodeRecipients("a")} {
			if n, _ := cc.Exists(ctx, k).Result(); n != 0 {
				return fmt.Errorf("%s survived the reaping", k)
			}
		}
		return nil
	})
	// alice moved to b before a was reaped: a failover is not an offline.
	if _, err := cc.ZScore(ctx, keys.OfflinePending(), "alice").Result(); err != redis.Nil {
		t.Fatalf("alice pending offline after the failover (%v)", err)
	}
	if got := presenceEvents(t, cc, "alice"); got != "online" {
		t.Fatalf("presence events of alice %q, want online only", got)
	}
	if v := metricValue(t, b.node(), "herald_nodes_reaped_total"); v != 1 {
		t.Fatalf("b reaped %v nodes, want 1", v)
	}
	if strings.Contains(b.log.String(), "CROSSSLOT") {
		t.Fatalf("b logged CROSSSLOT:\n%s", b.log.String())
	}
	if strings.Contains(a.log.String(), "CROSSSLOT") {
		t.Fatalf("a logged CROSSSLOT:\n%s", a.log.String())
	}
	if v := metricValue(t, b.node(), "herald_redis_errors_total"); v != 0 {
		t.Fatalf("b: herald_redis_errors_total = %v", v)
	}
	f.mu.Lock()
	dups, reconnects := f.dups, f.reconnects
	f.mu.Unlock()
	t.Logf("all %d delivered %v after kill -9 of a (%d duplicates dropped, %d reconnects, closes %s); a reaped %v after the kill (cluster.node_ttl 3s)",
		n, delivered.Round(100*time.Millisecond), dups, reconnects, f.closeCodes(), reaped.Round(100*time.Millisecond))
}

// limits.max_sessions_per_user counts a user's sessions over every node of the
// cluster: with 2 allowed, a third session on the other node is closed with 4009.
func TestRedisClusterSessionLimitAcrossNodes(t *testing.T) {
	cl := redistest.StartCluster(t)
	cc := cl.Client(t)
	ctx := context.Background()
	a := startClusterNode(t, cl, "a", "--limits.max_sessions_per_user", "2", "--streams.partitions", "3")
	b := startClusterNode(t, cl, "b", "--limits.max_sessions_per_user", "2", "--streams.partitions", "3")
	keys := streams.NewKeys("herald", 3)

	first := connect(t, a.testNode, "alice", "")
	connect(t, b.testNode, "alice", "")
	bob := connect(t, b.testNode, "bob", "") // another user is not counted with alice

	third, res, err := dial(t, b.testNode, "token="+mint(t, "alice", "", time.Hour), nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, statusOf(res))
	}
	if code := third.closeCode(10 * time.Second); code != wire.CloseTooManySessions {
		t.Fatalf("third session closed with %d, want %d", code, wire.CloseTooManySessions)
	}
	for len(third.frames) > 0 {
		if f := <-third.frames; f.str("type") == "push" {
			t.Fatalf("refused session got %v", f)
		}
	}
	if v := metricValue(t, b.testNode, "herald_session_limit_closes_total"); v != 1 {
		t.Fatalf("herald_session_limit_closes_total on b = %v", v)
	}
	counts, err := cc.HGetAll(ctx, keys.Sessions("alice")).Result()
	if err != nil || counts["a"] != "1" || counts["b"] != "1" || len(counts) != 2 {
		t.Fatalf("alice's session counts %v (%v), want a:1 b:1", counts, err)
	}

	// Pushes still reach the two admitted sessions and bob.
	xaddTo(t, cc, keys, "bob", "data", `{"seq":0}`)
	if p := bob.pushes(1, 10*time.Second)[0]; seqOf(t, p) != 0 {
		t.Fatalf("bob got %v", p)
	}

	// Closing one frees a slot on the cluster for a session on the other node.
	first.close()
	testkit.Eventually(t, 10*time.Second, func() error {
		if c, _ := cc.HGet(ctx, keys.Sessions("alice"), "a").Result(); c != "" {
			return fmt.Errorf("a still counts %s session(s) of alice", c)
		}
		return nil
	})
	again := connect(t, b.testNode, "alice", "")
	xaddTo(t, cc, keys, "alice", "data", `{"seq":1}`)
	if p := again.pushes(1, 10*time.Second)[0]; seqOf(t, p) != 1 {
		t.Fatalf("alice's new session got %v", p)
	}
	if c, _ := cc.HGet(ctx, keys.Sessions("alice"), "b").Result(); c != "2" {
		t.Fatalf("b counts %q sessions of alice, want 2", c)
	}
	assertNoClusterErrors(t, "a", a.log.String(), a.testNode)
	assertNoClusterErrors(t, "b", b.log.String(), b.testNode)
}
