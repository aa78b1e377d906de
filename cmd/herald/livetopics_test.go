package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
)

// history.topics through real WebSockets. A live-only topic is delivered live, on
// the publishing node and across another node's inbox, with its ingress entry ids
// as offsets, and Redis holds no history stream for it; a subscribe with since
// gets recovered complete:false at once and none of what it missed, then live
// pushes. A topic with its own size and TTL keeps that; other topics keep the
// defaults.
func TestLiveOnlyTopic(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	flags := []string{"--history.topics", "ticker.*=0,chat.*=5/1h"}
	n1 := startTestNode(t, srv, nodeOptions{}, append(flags, "--node.id", "n1")...)
	n2 := startTestNode(t, srv, nodeOptions{}, append(flags, "--node.id", "n2")...)
	local, remote := connect(t, n1, "alice", ""), connect(t, n2, "bob", "")
	for _, c := range []*wsClient{local, remote} {
		subscribe(t, c, "ticker.eur", "")
	}
	var ids []string
	for i := 0; i < 10; i++ {
		ids = append(ids, xadd(t, n1, "topic", "ticker.eur", "data", fmt.Sprintf(`{"seq":%d}`, i)))
	}
	for _, c := range []*wsClient{local, remote} {
		for i, p := range c.pushes(10, 5*time.Second) {
			if seqOf(t, p) != i || p.str("topic") != "ticker.eur" || p.str("offset") != ids[i] {
				t.Fatalf("push %d: %v (ingress id %s)", i, p, ids[i])
			}
		}
	}
	rdb := srv.Client(t)
	ctx := context.Background()
	if n := rdb.Exists(ctx, "herald:{t:ticker.eur}:h").Val(); n != 0 {
		t.Fatal("a live-only topic has a history stream")
	}

	// bob is away for three pushes, then resubscribes from the last he saw.
	remote.close()
	for i := 10; i < 13; i++ {
		xadd(t, n1, "topic", "ticker.eur", "data", fmt.Sprintf(`{"seq":%d}`, i))
	}
	local.pushes(3, 5*time.Second)
	for _, since := range []string{ids[9], "0-0"} {
		again := connect(t, n2, "bob", "")
		subscribe(t, again, "ticker.eur", since)
		if rec := again.expect(t, "recovered", "ticker.eur"); rec["complete"] != false {
			t.Fatalf("resume of a live-only topic from %s: %v, want complete:false", since, rec)
		}
		again.quiet(200 * time.Millisecond) // nothing of what he missed
		xadd(t, n1, "topic", "ticker.eur", "data", `{"seq":99}`)
		if p := again.pushes(1, 5*time.Second)[0]; seqOf(t, p) != 99 {
			t.Fatalf("live after the resume: %v", p)
		}
		local.pushes(1, 5*time.Second)
		again.close()
	}

	// chat.* keeps 5 entries for at most an hour; news the defaults (1000, 24h).
	for i := 0; i < 8; i++ {
		xadd(t, n1, "topic", "chat.room1", "data", fmt.Sprintf(`{"seq":%d}`, i))
		xadd(t, n1, "topic", "news", "data", fmt.Sprintf(`{"seq":%d}`, i))
	}
	testkit.Eventually(t, 5*time.Second, func() error {
		chat, news := rdb.XLen(ctx, "herald:{t:chat.room1}:h").Val(), rdb.XLen(ctx, "herald:{t:news}:h").Val()
		if chat != 5 || news != 8 {
			return fmt.Errorf("history lengths: chat.room1 %d, news %d; want 5 and 8", chat, news)
		}
		return nil
	})
	if ttl := rdb.PTTL(ctx, "herald:{t:chat.room1}:h").Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("chat.room1's history TTL %v, want at most 1h", ttl)
	}
	if ttl := rdb.PTTL(ctx, "herald:{t:news}:h").Val(); ttl <= time.Hour {
		t.Errorf("news's history TTL %v, want history.ttl (24h)", ttl)
	}
	c := connect(t, n2, "carol", "")
	subscribe(t, c, "news", "0-0")
	c.pushes(8, 5*time.Second)
	if rec := c.expect(t, "recovered", "news"); rec["complete"] != true {
		t.Fatalf("news resumes completely: %v", rec)
	}
}
