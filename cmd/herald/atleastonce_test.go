package main

// At least once from an acknowledged XADD to the device, through the faults that
// used to lose a push silently: a hand-off that fails after the history append,
// Redis killed with -9, a Redis Cluster master behind a node's inbox killed.

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

const leaseKey = "herald:{herald:in}:lease"

func waitLease(t *testing.T, rdb redis.UniversalClient, node string) {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, func() error {
		if h, _ := rdb.Get(context.Background(), leaseKey).Result(); h != node {
			return fmt.Errorf("lease held by %q, want %q", h, node)
		}
		return nil
	})
}

// historyOffsetOf returns the offset of the first history entry of user holding
// push id, or "" when there is none.
func historyOffsetOf(t *testing.T, rdb redis.UniversalClient, user, id string) string {
	t.Helper()
	msgs, err := rdb.XRange(context.Background(), "herald:{u:"+user+"}:h", "-", "+").Result()
	if err != nil {
		return ""
	}
	for _, m := range msgs {
		if m.Values["id"] == id {
			return m.ID
		}
	}
	return ""
}

// waitPushID reads c's frames until the push with id arrives and returns its
// offset; other pushes are skipped.
func waitPushID(t *testing.T, c *wsClient, id string, d time.Duration) string {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case f := <-c.frames:
			if f.str("type") == "push" && f.str("id") == id {
				return f.str("offset")
			}
		case <-deadline:
			t.Fatalf("push %s not received within %v", id, d)
			return ""
		}
	}
}

// The router appended a push to history and then could not hand it to the node
// of the user's session (its Redis user lost write access to that node's inbox,
// which the node itself does not notice), and dies. A newer push reaches the
// session first; the client disconnects and resumes from the newer offset, as
// docs/PROTOCOL.md tells it. It must still get the older push: its ingress entry was
// never acknowledged, so the next lease holder routes it again, with an offset
// after the one the client resumed from.
func TestRouterKilledBetweenAppendAndHandOffWhileClientResumes(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := srv.Client(t)
	ctx := context.Background()
	if err := rdb.Do(ctx, "ACL", "SETUSER", "router-a", "on", ">pw", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	a := startProc(t, redisFlags(srv), "a", append([]string{"--redis.username", "router-a", "--redis.password", "pw"}, fastCluster...)...)
	waitLease(t, rdb, "a")
	b := startProc(t, redisFlags(srv), "b", fastCluster...)
	c := connect(t, b.node(), "alice", "")
	waitPresence(t, rdb, "alice", "b")

	// a may read b's keys but no longer write them; everything else as before.
	if err := rdb.Do(ctx, "ACL", "SETUSER", "router-a", "resetkeys",
		"~herald:[^{]*", "~herald:{[^n]*", "~herald:{n:[^b]*", "%R~herald:{n:b}*").Err(); err != nil {
		t.Fatal(err)
	}
	p1 := xaddPush(t, rdb, "alice", `{"n":1}`)
	var o1 string
	testkit.Eventually(t, 10*time.Second, func() error {
		if o1 = historyOffsetOf(t, rdb, "alice", p1); o1 == "" {
			return fmt.Errorf("push 1 not in history yet")
		}
		return nil
	})
	testkit.Eventually(t, 10*time.Second, func() error { // its hand-off failing
		if failed := procMetric(t, a.addr, `herald_redis_errors_total{op="handoff"}`); failed == 0 {
			return fmt.Errorf("no failed hand-off yet")
		}
		return nil
	})
	a.kill()
	p2 := xaddPush(t, rdb, "alice", `{"n":2}`)
	o2 := waitPushID(t, c, p2, 20*time.Second)
	if !wire.MustOffset(o1).Less(wire.MustOffset(o2)) {
		t.Fatalf("push 1's first offset %s is not below push 2's %s: the late case was not produced", o1, o2)
	}
	c.close()
	resumed := connect(t, b.node(), "alice", "since="+url.QueryEscape(o2))
	if o := waitPushID(t, resumed, p1, 30*time.Second); !wire.MustOffset(o2).Less(wire.MustOffset(o)) {
		t.Fatalf("push 1 came again at %s, not after %s", o, o2)
	}
}

func xaddPush(t *testing.T, rdb redis.UniversalClient, user, data string) string {
	t.Helper()
	id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: "herald:in", Values: []any{"to", user, "data", data}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Redis killed with -9 (no chance to flush) while pushes flow, restarted from its
// append-only file. With appendfsync always, every push whose XADD was
// acknowledged is delivered. With everysec the last second of writes may be
// lost; the subtest measures it (docs/OPERATIONS.md) and asserts nothing.
func TestRedisKilledWhilePushesFlow(t *testing.T) {
	for _, fsync := range []string{"always", "everysec"} {
		t.Run(fsync, func(t *testing.T) {
			srv := redistest.Start(t, redistest.Options{AppendOnly: true, Args: []string{"--appendfsync", fsync}})
			rdb := srv.Client(t)
			a := startProc(t, redisFlags(srv), "a", fastCluster...)
			b := startProc(t, redisFlags(srv), "b", fastCluster...)
			fa := follow(t, "alice", a.addr, b.addr)
			fb := follow(t, "bob", b.addr, a.addr)
			waitPresence(t, rdb, "alice", "a")
			waitPresence(t, rdb, "bob", "b")

			const n = 1500
			pub := startPublisher(t, rdb, n, 300, "alice", "bob")
			waitProgress(t, pub, n/3)
			srv.Kill()
			time.Sleep(time.Second)
			srv.Restart(t)
			pub.wait(t, 90*time.Second)
			if fsync == "always" {
				fa.waitAll(n, 60*time.Second)
				fb.waitAll(n, 60*time.Second)
				return
			}
			time.Sleep(10 * time.Second) // long enough to resume; measured, not asserted
			t.Logf("appendfsync everysec, kill -9: %d of %d acknowledged pushes lost for alice, %d for bob",
				len(fa.missing(n)), n, len(fb.missing(n)))
		})
	}
}

// A Redis Cluster master holding a node's inbox is killed with -9 while pushes
// for a user on that node flow, and restarted from its append-only file: every
// push whose XADD was acknowledged reaches the user. The router must not
// acknowledge an ingress entry whose inbox write failed (on a cluster its XACK
// goes to another master, in parallel with the write).
func TestClusterInboxMasterKilled(t *testing.T) {
	cl := redistest.StartClusterWith(t, redistest.Options{AppendOnly: true, Args: []string{"--appendfsync", "always"}})
	cc := cl.Client(t)
	node, inboxMaster := nodeAwayFromIngress(t, cc)
	user := userAwayFrom(t, cc, inboxMaster)
	a := startProc(t, clusterFlags(cl), "a", fastCluster...)
	waitLease(t, cc, "a")
	b := startProc(t, clusterFlags(cl), node, fastCluster...)
	f := follow(t, user, b.addr)
	waitPresence(t, cc, user, node)

	const n = 1200
	pub := startPublisher(t, cc, n, 200, user)
	waitProgress(t, pub, n/3)
	for _, m := range cl.Nodes {
		if m.Addr == inboxMaster {
			m.Kill()
			time.Sleep(2 * time.Second)
			m.Restart(t)
		}
	}
	pub.wait(t, 90*time.Second)
	f.waitAll(n, 90*time.Second)
	if failed := procMetric(t, a.addr, `herald_redis_errors_total{op="handoff"}`); failed == 0 {
		t.Fatal("no inbox write failed while the inbox's master was down: the fault missed")
	}
	t.Logf("all %d delivered; %d duplicates dropped by id; %d reconnects", n, f.dups, f.reconnects)
}

func masterOf(t *testing.T, cc *redis.ClusterClient, key string) string {
	t.Helper()
	c, err := cc.MasterForKey(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return c.Options().Addr
}

// nodeAwayFromIngress picks a node id whose inbox lives on another master than
// the ingress stream, and returns it with that master.
func nodeAwayFromIngress(t *testing.T, cc *redis.ClusterClient) (node, master string) {
	t.Helper()
	in := masterOf(t, cc, "herald:in")
	for i := 0; i < 100; i++ {
		node = fmt.Sprintf("b%d", i)
		if master = masterOf(t, cc, "herald:{n:"+node+"}:in"); master != in {
			return node, master
		}
	}
	t.Fatal("no node id with its inbox away from herald:in")
	return "", ""
}

// userAwayFrom picks a user whose keys live on another master than master, so
// that only the inbox write fails while it is down.
func userAwayFrom(t *testing.T, cc *redis.ClusterClient, master string) string {
	t.Helper()
	for i := 0; i < 100; i++ {
		u := fmt.Sprintf("user%d", i)
		if masterOf(t, cc, "herald:{u:"+u+"}:h") != master {
			return u
		}
	}
	t.Fatal("no user away from the inbox's master")
	return ""
}
