package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
)

// opsNode is an in-process node whose log is kept, to count its lines.
type opsNode struct {
	*testNode
	log *testkit.SyncBuffer
}

func opsConfig(t *testing.T, srv *redistest.Server, flags ...string) config.Config {
	t.Helper()
	args := append([]string{
		"--redis.addr", srv.Addr, "--auth.hmac_secret", testSecret, "--server.addr", "127.0.0.1:0",
		"--streams.block", "200ms", "--shutdown.timeout", "10s",
	}, flags...)
	cfg, err := config.Load(args, nil)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// startOpsNode starts a node on srv, or returns the error it failed to start with.
func startOpsNode(t *testing.T, srv *redistest.Server, opts nodeOptions, flags ...string) (*opsNode, error) {
	t.Helper()
	logs := &testkit.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n, err := startNode(context.Background(), opsConfig(t, srv, flags...), log, opts)
	if err != nil {
		return nil, err
	}
	on := &opsNode{testNode: &testNode{node: n, t: t, redis: srv}, log: logs}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Errorf("stop node: %v", err)
		}
		if t.Failed() {
			t.Logf("log of %s:\n%s", n.cfg.Node.ID, logs.String())
		}
	})
	waitReady(t, on.testNode)
	return on, nil
}

func mustStartOpsNode(t *testing.T, srv *redistest.Server, opts nodeOptions, flags ...string) *opsNode {
	t.Helper()
	n, err := startOpsNode(t, srv, opts, flags...)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	return n
}

// lines counts the log lines holding s.
func (n *opsNode) lines(s string) int { return strings.Count(n.log.String(), s) }

// readyz returns /readyz's status and decoded body.
func readyz(t *testing.T, addr string) (int, map[string]any) {
	t.Helper()
	res, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("readyz body %q: %v", b, err)
	}
	return res.StatusCode, body
}

func redisDo(t *testing.T, rdb *redis.Client, args ...string) {
	t.Helper()
	a := make([]any, len(args))
	for i, s := range args {
		a[i] = s
	}
	if err := rdb.Do(context.Background(), a...).Err(); err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
}

// Eviction policy: a node refuses to start under an evicting policy, naming it and
// the fix, unless redis.allow_eviction accepts it (then /readyz shows a warning);
// a policy changed under a running node is logged once, counted and shown in
// /readyz's body, which stays 200.
func TestNodeEvictionPolicy(t *testing.T) {
	lru := redistest.Start(t, redistest.Options{Args: []string{"--maxmemory-policy", "allkeys-lru"}})
	_, err := startOpsNode(t, lru, nodeOptions{})
	if err == nil || !strings.Contains(err.Error(), "allkeys-lru") || !strings.Contains(err.Error(), "redis.allow_eviction") ||
		!strings.Contains(err.Error(), "CONFIG SET maxmemory-policy noeviction") {
		t.Fatalf("start under allkeys-lru: %v", err)
	}
	accepted := mustStartOpsNode(t, lru, nodeOptions{}, "--redis.allow_eviction")
	if status, body := readyz(t, accepted.Addr()); status != 200 || !strings.Contains(fmt.Sprint(body["warnings"]), "allkeys-lru") {
		t.Fatalf("readyz %d %v", status, body)
	}
	if g := metricValue(t, accepted.testNode, "herald_redis_eviction_unsafe"); g != 1 {
		t.Fatalf("herald_redis_eviction_unsafe %v", g)
	}

	srv := redistest.Start(t, redistest.Options{})
	n := mustStartOpsNode(t, srv, nodeOptions{redisCheckEvery: 50 * time.Millisecond})
	if _, body := readyz(t, n.Addr()); body["warnings"] != nil {
		t.Fatalf("warnings under noeviction: %v", body)
	}
	redisDo(t, srv.Client(t), "config", "set", "maxmemory-policy", "volatile-lru")
	testkit.Eventually(t, 10*time.Second, func() error {
		status, body := readyz(t, n.Addr())
		if status != 200 || !strings.Contains(fmt.Sprint(body["warnings"]), "volatile-lru") {
			return fmt.Errorf("readyz %d %v", status, body)
		}
		if c := metricValue(t, n.testNode, "herald_redis_eviction_policy_changes_total"); c != 1 {
			return fmt.Errorf("changes %v", c)
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond) // several more checks
	if c := n.lines("redis eviction policy changed"); c != 1 {
		t.Fatalf("%d log lines for one change:\n%s", c, n.log.String())
	}
}

// aclPassword is the password of the ACL user the tests create.
const aclPassword = "herald-test-pw"

// createACLUser runs the ACL rule, with extra rules appended, as the admin.
func createACLUser(t *testing.T, srv *redistest.Server, extra ...string) {
	t.Helper()
	redisDo(t, srv.Client(t), append(strings.Fields(streams.ACLRule("herald", aclPassword, "herald")), extra...)...)
}

// Managed Redis: the ACL rule in docs/OPERATIONS.md is the one the code grants; a
// node runs under it with every feature in use and Redis denies it nothing; a user
// missing one command is refused at start with the command named.
func TestNodeUnderTheDocumentedACL(t *testing.T) {
	doc, err := os.ReadFile("../../docs/OPERATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	if rule := streams.ACLRule("herald", "CHANGE-ME", "herald"); !strings.Contains(string(doc), rule) {
		t.Fatalf("docs/OPERATIONS.md lacks the ACL rule the code grants:\n%s", rule)
	}
	srv := redistest.Start(t, redistest.Options{})
	admin := srv.Client(t)
	ctx := context.Background()
	createACLUser(t, srv)
	redisDo(t, admin, "acl", "log", "reset")
	user := []string{"--redis.username", "herald", "--redis.password", aclPassword,
		"--delivery.ack_timeout", "1s", "--limits.max_sessions_per_user", "5", "--topics.publish", "room.*",
		"--presence.debounce", "100ms", "--cluster.node_ttl", "3s", "--publish.api_key", testAPIKey}
	platforms := startPlatforms(t) // a runs the push-notification fallback too
	platforms.register(t, admin, "alice")
	a := mustStartOpsNode(t, srv, nodeOptions{}, append(append(user, platforms.flags...), "--delivery.ack_timeout", "1s", "--node.id", "a")...)
	b := mustStartOpsNode(t, srv, nodeOptions{}, append(user, "--node.id", "b")...)

	// alice on b (pushes go through b's inbox), with a device (cursor) and a topic.
	alice := connect(t, b.testNode, "alice", "device=phone")
	waitPresence(t, admin, "alice", "b")
	for i := 0; i < 3; i++ {
		xadd(t, a.testNode, "to", "alice", "data", fmt.Sprintf(`{"seq":%d}`, i))
	}
	pushes := alice.pushes(3, 10*time.Second)
	send(t, alice, map[string]any{"type": "ack", "offset": pushes[1].str("offset")})
	send(t, alice, map[string]any{"type": "subscribe", "topic": "room.1"})
	send(t, alice, map[string]any{"type": "publish", "topic": "room.1", "ref": "p1", "data": map[string]int{"x": 1}})
	send(t, alice, map[string]any{"type": "send", "ref": "s1", "data": map[string]int{"y": 1}})
	send(t, alice, map[string]any{"type": "register", "ref": "g1", "target": map[string]string{"kind": "fcm", "token": "t"}})
	send(t, alice, map[string]any{"type": "targets", "ref": "g2"})
	send(t, alice, map[string]any{"type": "unregister", "ref": "g3", "kind": "fcm"})
	testkit.Eventually(t, 10*time.Second, func() error { // the unacked third push goes to herald:undelivered
		if n := admin.XLen(ctx, "herald:undelivered").Val(); n == 0 {
			return fmt.Errorf("no undelivered event")
		}
		if n := admin.XLen(ctx, "herald:up").Val(); n == 0 {
			return fmt.Errorf("no upstream entry")
		}
		if got := platforms.received(t, "alice"); len(got["fcm"]) == 0 || len(got["apns"]) == 0 || len(got["webpush"]) == 0 {
			return fmt.Errorf("alice notified %v, want the undelivered push on each platform", got)
		}
		return nil
	})
	useServerAPI(t, a.testNode, admin)
	alice.close()
	resumed := connect(t, a.testNode, "alice", "since="+url.QueryEscape(pushes[0].str("offset")))
	resumed.pushes(2, 10*time.Second)
	resumed.close()
	testkit.Eventually(t, 10*time.Second, func() error { // offline event after the debounce
		if got := presenceEvents(t, admin, "alice"); !strings.HasSuffix(got, "offline") {
			return fmt.Errorf("presence events %q", got)
		}
		return nil
	})
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.Stop(stopCtx); err != nil { // drain and leave
		t.Fatal(err)
	}
	if log := admin.Do(ctx, "acl", "log").Val(); fmt.Sprint(log) != "[]" {
		t.Fatalf("Redis denied the node commands under the documented rule: %v", log)
	}
	if m := metricValue(t, a.testNode, "herald_redis_errors_total"); m != 0 {
		t.Fatalf("herald_redis_errors_total %v under the documented rule", m)
	}

	redisDo(t, admin, "acl", "deluser", "herald")
	createACLUser(t, srv, "-zrangebyscore")
	_, err = startOpsNode(t, srv, nodeOptions{}, append(user, "--node.id", "c")...)
	if err == nil || !strings.Contains(err.Error(), "may not run zrangebyscore") {
		t.Fatalf("start without zrangebyscore: %v", err)
	}
}

// useServerAPI calls every server API operation, and has a bad control entry
// dead-lettered, so that their Redis commands run under the ACL.
func useServerAPI(t *testing.T, n *testNode, admin *redis.Client) {
	t.Helper()
	mustAPI(t, n, http.StatusAccepted, "POST", "/v1/revoke", map[string]any{"jti": "j1"})
	mustAPI(t, n, http.StatusAccepted, "POST", "/v1/revoke", map[string]any{"user": "bob", "issued_before": 1})
	mustAPI(t, n, http.StatusAccepted, "POST", "/v1/disconnect", map[string]any{"user": "bob"})
	waitSessions(t, n, "alice", 1)
	mustAPI(t, n, http.StatusOK, "POST", "/v1/presence", map[string]any{"users": []string{"alice", "bob"}})
	mustAPI(t, n, http.StatusOK, "GET", "/v1/stats", nil)
	mustAPI(t, n, http.StatusOK, "GET", "/v1/topics/room.1", nil)
	mustAPI(t, n, http.StatusOK, "GET", "/v1/history?user=alice&limit=2", nil)
	mustAPI(t, n, http.StatusOK, "GET", "/v1/history?user=alice&since=1-0", nil)
	admin.XAdd(context.Background(), &redis.XAddArgs{Stream: "herald:ctl", Values: []any{"op", "nope"}})
	testkit.Eventually(t, 5*time.Second, func() error {
		if n := admin.XLen(context.Background(), "herald:dlq").Val(); n == 0 {
			return fmt.Errorf("the bad control entry is not dead-lettered")
		}
		return nil
	})
}

// send writes one client frame.
func send(t *testing.T, c *wsClient, f map[string]any) {
	t.Helper()
	b, _ := json.Marshal(f)
	if err := c.conn.WriteString(string(b)); err != nil {
		t.Fatal(err)
	}
}

// Memory full with noeviction while pushes flow: /readyz turns red while Redis
// refuses writes, the node retries with backoff (counted, not spinning) and does
// not crash; once memory is freed /readyz is green again and every push a
// publisher was told was stored arrives.
//
// streams.max_deliveries is raised here: every retry of the router re-reads its
// pending entries, which Redis counts as a delivery, so an outage of writes longer
// than max_deliveries retries (a few seconds) dead-letters them.
// TestRedisMemoryFullKeepsEntriesOutOfTheDLQ holds that case, pending a fix in
// streams/router.go.
func TestRedisMemoryFullWhilePushesFlow(t *testing.T) {
	memoryFull(t, "--streams.max_deliveries", "1000")
}

func TestRedisMemoryFullKeepsEntriesOutOfTheDLQ(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Args: []string{"--maxmemory-policy", "noeviction"}})
	admin := srv.Client(t)
	ctx := context.Background()
	n := mustStartOpsNode(t, srv, nodeOptions{}, "--cluster.node_ttl", "3s", "--streams.read_count", "10")
	f := follow(t, "alice", n.Addr())
	waitPresence(t, admin, "alice", n.cfg.Node.ID)
	const total = 300
	_, err := admin.Pipelined(ctx, func(p redis.Pipeliner) error { // stored, most not routed yet when memory runs out
		for i := 0; i < total; i++ {
			p.XAdd(ctx, &redis.XAddArgs{Stream: "herald:in", Values: []any{"to", "alice", "data", fmt.Sprintf(`{"seq":%d}`, i)}})
		}
		p.ConfigSet(ctx, "maxmemory", "1")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second) // more than streams.max_deliveries retries
	redisDo(t, admin, "config", "set", "maxmemory", "0")
	testkit.Eventually(t, 20*time.Second, func() error { return readyStatus(n.Addr(), http.StatusOK) })
	f.waitAll(total, 30*time.Second)
}

func memoryFull(t *testing.T, flags ...string) {
	srv := redistest.Start(t, redistest.Options{Args: []string{"--maxmemory-policy", "noeviction"}})
	admin := srv.Client(t)
	n := mustStartOpsNode(t, srv, nodeOptions{}, append([]string{"--cluster.node_ttl", "3s"}, flags...)...)
	f := follow(t, "alice", n.Addr())
	waitPresence(t, admin, "alice", n.cfg.Node.ID)

	const total = 600
	pub := startPublisher(t, admin, total, 200, "alice")
	waitProgress(t, pub, total/4)
	used, err := strconv.ParseInt(infoField(t, admin, "memory", "used_memory"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	// Below what Redis holds: every write is refused from now on, the publisher's too.
	redisDo(t, admin, "config", "set", "maxmemory", strconv.FormatInt(used/2, 10))
	testkit.Eventually(t, 20*time.Second, func() error {
		if status, body := readyz(t, n.Addr()); status != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(body["error"]), "maxmemory") {
			return fmt.Errorf("readyz %d %v", status, body)
		}
		if metricValue(t, n.testNode, "herald_redis_oom_errors_total") == 0 {
			return fmt.Errorf("no OOM refusal counted")
		}
		return nil
	})
	stalled := pub.progress()
	before := metricValue(t, n.testNode, "herald_redis_oom_errors_total")
	time.Sleep(3 * time.Second)
	during := metricValue(t, n.testNode, "herald_redis_oom_errors_total")
	if during-before > 300 {
		t.Fatalf("%v OOM round trips in 3 s: the node retries without backing off", during-before)
	}
	if status, _ := readyz(t, n.Addr()); status != http.StatusServiceUnavailable {
		t.Fatalf("readyz %d while Redis refuses writes", status)
	}
	redisDo(t, admin, "config", "set", "maxmemory", "0")
	testkit.Eventually(t, 20*time.Second, func() error { return readyStatus(n.Addr(), http.StatusOK) })
	pub.wait(t, 60*time.Second)
	f.waitAll(total, 30*time.Second)
	if dlq := admin.XLen(context.Background(), "herald:dlq").Val(); dlq != 0 {
		t.Fatalf("%d entries dead-lettered", dlq)
	}
	t.Logf("publisher stalled at %d of %d; %v OOM round trips counted, %v in the 3 s measured; all %d delivered",
		stalled, total, during, during-before, total)
}

func infoField(t *testing.T, rdb *redis.Client, section, field string) string {
	t.Helper()
	s, err := rdb.Info(context.Background(), section).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	t.Fatalf("INFO %s has no %s", section, field)
	return ""
}
