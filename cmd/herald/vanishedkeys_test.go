package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

// The ingress stream deleted under a running node: the router notices, recreates
// its group from the start of the new stream so that pushes published right after
// the deletion are routed, counts it and logs it once; sessions stay open.
func TestIngressDeletedUnderRunningNode(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	admin := srv.Client(t)
	ctx := context.Background()
	n := mustStartOpsNode(t, srv, nodeOptions{})
	f := follow(t, "alice", n.Addr())
	waitPresence(t, admin, "alice", n.cfg.Node.ID)
	publishSeqs(t, admin, "alice", 0, 50)
	f.waitAll(50, 10*time.Second)
	if err := admin.Del(ctx, "herald:in").Err(); err != nil {
		t.Fatal(err)
	}
	publishSeqs(t, admin, "alice", 50, 100) // at once: they recreate the stream without the group
	f.waitAll(100, 20*time.Second)
	testkit.Eventually(t, 10*time.Second, func() error {
		if v := vanished(t, n, "ingress"); v != 1 {
			return fmt.Errorf("herald_redis_keys_vanished_total{key=ingress} %v", v)
		}
		return nil
	})
	if c := n.lines("redis key vanished: ingress stream"); c != 1 {
		t.Fatalf("%d log lines for one vanishing:\n%s", c, n.log.String())
	}
	if r := f.reconnectCount(); r != 0 {
		t.Fatalf("sessions reconnected %d times", r)
	}
}

// publishSeqs appends seqs [from, to) for user to herald:in.
func publishSeqs(t *testing.T, rdb redis.UniversalClient, user string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: "herald:in",
			Values: []any{"to", user, "data", fmt.Sprintf(`{"seq":%d}`, i)}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// vanished reads herald_redis_keys_vanished_total{key=kind}.
func vanished(t *testing.T, n *opsNode, kind string) float64 {
	t.Helper()
	res, err := http.Get("http://" + n.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	prefix := `herald_redis_keys_vanished_total{key="` + kind + `"} `
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			x, _ := strconv.ParseFloat(v, 64)
			return x
		}
	}
	t.Fatalf("no %s", prefix)
	return 0
}

// A node's inbox deleted under it while pushes flow through it: the node notices,
// recreates the group from the start of the new stream, counts and logs it once,
// and has its sessions resume from history, so every push arrives.
func TestInboxDeletedUnderRunningNode(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	admin := srv.Client(t)
	ctx := context.Background()
	a := mustStartOpsNode(t, srv, nodeOptions{}, "--node.id", "a") // takes the lease: routes
	b := mustStartOpsNode(t, srv, nodeOptions{}, "--node.id", "b")
	f := follow(t, "alice", b.Addr())
	waitPresence(t, admin, "alice", "b")
	const total = 600
	pub := startPublisher(t, admin, total, 300, "alice")
	waitProgress(t, pub, total/3)
	if err := admin.Del(ctx, "herald:{n:b}:in").Err(); err != nil {
		t.Fatal(err)
	}
	pub.wait(t, 30*time.Second)
	f.waitAll(total, 30*time.Second)
	testkit.Eventually(t, 10*time.Second, func() error {
		if v := vanished(t, b, "inbox"); v != 1 {
			return fmt.Errorf("herald_redis_keys_vanished_total{key=inbox} %v", v)
		}
		groups, err := admin.XInfoGroups(ctx, "herald:{n:b}:in").Result()
		if err != nil || len(groups) != 1 || groups[0].Name != "node" {
			return fmt.Errorf("groups of b's inbox %v (%v)", groups, err)
		}
		return nil
	})
	if c := b.lines("redis key vanished: this node's inbox"); c != 1 {
		t.Fatalf("%d log lines for one vanishing:\n%s", c, b.log.String())
	}
	if v := vanished(t, a, "inbox"); v != 0 {
		t.Fatalf("a counted b's inbox: %v", v)
	}
	t.Logf("all %d delivered; %d reconnects", total, f.reconnectCount())
}

// A recipient's history deleted under a running node: newer pushes recreate it, and
// a client that resumes from an offset of the vanished history gets what the new
// one holds and complete:false; the node counts and logs it.
func TestHistoryDeletedUnderRunningNode(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	admin := srv.Client(t)
	ctx := context.Background()
	n := mustStartOpsNode(t, srv, nodeOptions{})
	c := connect(t, n.testNode, "alice", "")
	publishSeqs(t, admin, "alice", 0, 5)
	last := c.pushes(5, 10*time.Second)[4].str("offset")
	c.close()
	if err := admin.Del(ctx, "herald:{u:alice}:h").Err(); err != nil {
		t.Fatal(err)
	}
	publishSeqs(t, admin, "alice", 5, 7)
	testkit.Eventually(t, 10*time.Second, func() error {
		if l := admin.XLen(ctx, "herald:{u:alice}:h").Val(); l != 2 {
			return fmt.Errorf("history length %d", l)
		}
		return nil
	})
	c2 := connect(t, n.testNode, "alice", "since="+url.QueryEscape(last))
	for _, want := range []int{5, 6} {
		if got := seqOf(t, c2.pushes(1, 10*time.Second)[0]); got != want {
			t.Fatalf("replayed seq %d, want %d", got, want)
		}
	}
	if fr := c2.next(10 * time.Second); fr.str("type") != "recovered" || fr["complete"] != false {
		t.Fatalf("got %v, want recovered complete:false", fr)
	}
	if v := vanished(t, n, "history"); v != 1 {
		t.Fatalf("herald_redis_keys_vanished_total{key=history} %v", v)
	}
	if l := n.lines("a resume found its history gone"); l != 1 {
		t.Fatalf("%d log lines:\n%s", l, n.log.String())
	}
	// Resuming from an offset of the new history is complete again.
	newest := admin.XRevRangeN(ctx, "herald:{u:alice}:h", "+", "-", 1).Val()[0].ID
	c2.close()
	c3 := connect(t, n.testNode, "alice", "since="+url.QueryEscape(newest))
	if fr := c3.next(10 * time.Second); fr.str("type") != "recovered" || fr["complete"] != true {
		t.Fatalf("got %v, want recovered complete:true", fr)
	}
}

// FLUSHDB under connected clients: the node recreates what it reads, its sessions
// resume (1001) and learn their history is gone (complete:false), /readyz is green
// again, and pushes published afterwards arrive.
func TestFlushDBUnderConnectedClients(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	admin := srv.Client(t)
	ctx := context.Background()
	n := mustStartOpsNode(t, srv, nodeOptions{}, "--cluster.node_ttl", "3s")
	f := follow(t, "alice", n.Addr())
	bob := connect(t, n.testNode, "bob", "")
	waitPresence(t, admin, "alice", n.cfg.Node.ID)
	waitPresence(t, admin, "bob", n.cfg.Node.ID)
	publishSeqs(t, admin, "alice", 0, 20)
	publishSeqs(t, admin, "bob", 0, 1)
	f.waitAll(20, 10*time.Second)
	bobLast := bob.pushes(1, 10*time.Second)[0].str("offset")

	if err := admin.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if code := bob.closeCode(15 * time.Second); code != wire.CloseGoingAway {
		t.Fatalf("bob closed with %d, want 1001", code)
	}
	waitReady(t, n.testNode)
	bob2 := connect(t, n.testNode, "bob", "since="+url.QueryEscape(bobLast))
	if fr := bob2.next(10 * time.Second); fr.str("type") != "recovered" || fr["complete"] != false {
		t.Fatalf("bob got %v, want recovered complete:false", fr)
	}
	waitPresence(t, admin, "alice", n.cfg.Node.ID)
	waitPresence(t, admin, "bob", n.cfg.Node.ID)
	publishSeqs(t, admin, "alice", 20, 40)
	publishSeqs(t, admin, "bob", 1, 2)
	f.waitAll(40, 20*time.Second)
	if p := bob2.pushes(1, 10*time.Second)[0]; seqOf(t, p) != 1 {
		t.Fatalf("bob got %v", p)
	}
	// The ingress stream's vanishing is not always seen here: the router may find
	// its lease gone first and recreate the group while taking it again.
	if v := vanished(t, n, "inbox"); v != 1 {
		t.Errorf("inbox vanishing counted %v times", v)
	}
	if status, body := readyz(t, n.Addr()); status != 200 {
		t.Fatalf("readyz %d %v", status, body)
	}
}

func (f *follower) reconnectCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reconnects
}
