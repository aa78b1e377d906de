package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

// The router appends a push only to the inboxes of nodes hosting its recipient: a
// node hosting nobody for it never reads it.
func TestPushGoesOnlyToNodesHostingTheRecipient(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	n1 := startTestNode(t, srv, nodeOptions{}, "--node.id", "n1")
	n2 := startTestNode(t, srv, nodeOptions{}, "--node.id", "n2")
	n3 := startTestNode(t, srv, nodeOptions{}, "--node.id", "n3")
	alice := connect(t, n1, "alice", "")
	bob := connect(t, n2, "bob", "")
	carol := connect(t, n3, "carol", "")
	for i := 0; i < 50; i++ {
		xadd(t, n1, "to", "alice", "data", fmt.Sprintf(`{"seq":%d}`, i))
		xadd(t, n1, "to", "bob", "data", fmt.Sprintf(`{"seq":%d}`, i))
	}
	alice.pushes(50, 10*time.Second)
	bob.pushes(50, 10*time.Second)
	carol.quiet(300 * time.Millisecond)
	if got := metricValue(t, n3, "herald_inbox_entries_total"); got != 0 {
		t.Fatalf("n3 read %v inbox entries, hosting neither alice nor bob", got)
	}
	ctx := context.Background()
	if l, _ := n1.rdb.XLen(ctx, "herald:{n:n3}:in").Result(); l != 0 {
		t.Fatalf("n3's inbox got %d entries", l)
	}
	// Whoever routes, each push reaches the other hosting node through its inbox
	// or is delivered locally: together the two nodes wrote exactly 100 pushes.
	if out := metricValue(t, n1, "herald_pushes_out_total") + metricValue(t, n2, "herald_pushes_out_total"); out != 100 {
		t.Fatalf("pushes out %v, want 100", out)
	}
}

// Exactly one online and one offline event per real visit, however many sessions
// on however many nodes; a quick reconnect is neither.
func TestPresenceEventsOnePerVisit(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	flags := []string{"--presence.debounce", "1s"}
	n1 := startTestNode(t, srv, nodeOptions{}, append(flags, "--node.id", "n1")...)
	n2 := startTestNode(t, srv, nodeOptions{}, append(flags, "--node.id", "n2")...)
	rdb := srv.Client(t)

	a := connect(t, n1, "alice", "")
	b := connect(t, n2, "alice", "")
	testkit.Eventually(t, 5*time.Second, func() error { return expectEvents(t, rdb, "alice", "online") })
	a.close()
	time.Sleep(200 * time.Millisecond)
	b.close() // the last session leaves ...
	c := connect(t, n1, "alice", "")
	// ... and a new one opens within the debounce: neither offline nor online.
	time.Sleep(2 * time.Second)
	if err := expectEvents(t, rdb, "alice", "online"); err != nil {
		t.Fatal(err)
	}
	c.close()
	testkit.Eventually(t, 5*time.Second, func() error { return expectEvents(t, rdb, "alice", "online,offline") })
	time.Sleep(1500 * time.Millisecond)
	if err := expectEvents(t, rdb, "alice", "online,offline"); err != nil {
		t.Fatal(err)
	}
	msgs, _ := rdb.XRange(context.Background(), "herald:presence", "-", "+").Result()
	for _, m := range msgs {
		if m.Values["ts"] == nil || m.Values["user"] != "alice" {
			t.Fatalf("event without ts or user: %v", m.Values)
		}
	}
}

func expectEvents(t *testing.T, rdb redis.UniversalClient, user, want string) error {
	if got := presenceEvents(t, rdb, user); got != want {
		return fmt.Errorf("presence events of %s: %q, want %q", user, got, want)
	}
	return nil
}

// A user push no device acked within delivery.ack_timeout is appended once to
// herald:undelivered; an acked one is not.
func TestUndeliveredAfterAckTimeout(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	n := startTestNode(t, srv, nodeOptions{}, "--delivery.ack_timeout", "1s")
	c := connect(t, n, "alice", "")
	xadd(t, n, "to", "alice", "data", `{"seq":0}`, "id", "acked")
	acked := c.pushes(1, 5*time.Second)[0]
	if err := c.conn.WriteString(fmt.Sprintf(`{"type":"ack","offset":%q}`, acked.str("offset"))); err != nil {
		t.Fatal(err)
	}
	xadd(t, n, "to", "alice", "data", `{"seq":1}`, "id", "never-acked")
	c.pushes(1, 5*time.Second)
	xadd(t, n, "to", "bob", "data", `{"seq":0}`, "id", "bob-offline") // no session at all
	xadd(t, n, "topic", "news", "data", `{"seq":0}`)                  // topics are not tracked
	ctx := context.Background()
	ids := func() string {
		msgs, _ := n.rdb.XRange(ctx, "herald:undelivered", "-", "+").Result()
		var out []string
		for _, m := range msgs {
			if m.Values["to"] == nil || m.Values["offset"] == nil || m.Values["data"] == nil {
				t.Fatalf("undelivered entry lacks to/offset/data: %v", m.Values)
			}
			out = append(out, fmt.Sprint(m.Values["id"]))
		}
		return strings.Join(out, ",")
	}
	testkit.Eventually(t, 10*time.Second, func() error {
		if got := ids(); got != "never-acked,bob-offline" {
			return fmt.Errorf("undelivered %q", got)
		}
		return nil
	})
	time.Sleep(2 * time.Second) // and nothing twice
	if got := ids(); got != "never-acked,bob-offline" {
		t.Fatalf("undelivered %q", got)
	}
}

// limits.max_sessions_per_user counts sessions on every node: one more is closed
// with 4009; after one leaves, a new one is accepted.
func TestSessionLimitAcrossNodes(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	flags := []string{"--limits.max_sessions_per_user", "2"}
	n1 := startTestNode(t, srv, nodeOptions{}, append(flags, "--node.id", "n1")...)
	n2 := startTestNode(t, srv, nodeOptions{}, append(flags, "--node.id", "n2")...)
	first := connect(t, n1, "alice", "")
	connect(t, n2, "alice", "")
	over, _, err := dial(t, n2, "token="+mint(t, "alice", "", time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	if code := over.closeCode(5 * time.Second); code != wire.CloseTooManySessions {
		t.Fatalf("third session closed with %d, want 4009", code)
	}
	connect(t, n1, "bob", "") // other users are not affected
	first.close()
	testkit.Eventually(t, 5*time.Second, func() error {
		c, _, err := dial(t, n2, "token="+mint(t, "alice", "", time.Hour), nil)
		if err != nil {
			return err
		}
		select {
		case f := <-c.frames:
			if f.str("type") == "welcome" {
				return nil
			}
			return fmt.Errorf("got %v", f)
		case <-c.closed:
			return fmt.Errorf("refused again")
		case <-time.After(2 * time.Second):
			return fmt.Errorf("no welcome")
		}
	})
}

// An entry that keeps failing (its history key holds the wrong type) goes to the
// dead-letter stream after streams.max_deliveries, and the rest flows on.
func TestPoisonEntryIsDeadLetteredAfterMaxDeliveries(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	n := startTestNode(t, srv, nodeOptions{}, "--streams.max_deliveries", "3", "--streams.claim_idle", "300ms")
	ctx := context.Background()
	if err := n.rdb.Set(ctx, "herald:{u:bob}:h", "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	c := connect(t, n, "alice", "")
	xadd(t, n, "to", "bob", "data", `{"poison":true}`)
	for i := 0; i < 5; i++ {
		xadd(t, n, "to", "alice", "data", fmt.Sprintf(`{"seq":%d}`, i))
	}
	c.pushes(5, 10*time.Second)
	testkit.Eventually(t, 20*time.Second, func() error {
		dlq, _ := n.rdb.XRange(ctx, "herald:dlq", "-", "+").Result()
		if len(dlq) != 1 || dlq[0].Values["reason"] != "max deliveries exceeded" {
			return fmt.Errorf("dead letters %v", dlq)
		}
		if p, _ := n.rdb.XPending(ctx, "herald:in", "router").Result(); p.Count != 0 {
			return fmt.Errorf("%d still pending", p.Count)
		}
		return nil
	})
}

// A node killed and restarted with the same node.id does not keep its dead run's
// presence or session counts: the session limit does not lock the user out.
func TestRestartWithSameNodeIDClearsItsLeftovers(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := srv.Client(t)
	a := startProc(t, redisFlags(srv), "a", append(fastCluster, "--limits.max_sessions_per_user", "1")...)
	openSession(a, "alice")
	waitPresence(t, rdb, "alice", "a")
	a.kill()
	a.start()
	c := openSession(a, "alice")
	if f := c.next(5 * time.Second); f.str("type") != "welcome" {
		t.Fatalf("after the restart alice got %v, want welcome (not 4009)", f)
	}
	if n, _ := rdb.HGet(context.Background(), "herald:{u:alice}:s", "a").Int(); n != 1 {
		t.Fatalf("session count %d, want 1", n)
	}
}
