package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

// A backend reads herald:up with its own consumer group.
func readUp(t *testing.T, rdb redis.UniversalClient, group string) []redis.XMessage {
	t.Helper()
	ctx := context.Background()
	if err := rdb.XGroupCreateMkStream(ctx, "herald:up", group, "0").Err(); err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		t.Fatal(err)
	}
	res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: "backend", Streams: []string{"herald:up", ">"}, Count: 100, Block: -1}).Result()
	if err == redis.Nil {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return res[0].Messages
}

func TestSendReachesBackendsOnceWithTheServerKnownUser(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{}, "--limits.max_payload_bytes", "100")
	c, _, err := dial(t, n, "token="+mint(t, "alice", "phone", time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	welcome := c.expect(t, "welcome", "")
	c.send(t, `{"type":"send","ref":"r1","data":{"text":"hello"},"user":"mallory","from":"mallory"}`)
	sent := c.expect(t, "sent", "")
	if sent.str("ref") != "r1" || sent.str("id") == "" {
		t.Fatalf("sent frame %v", sent)
	}
	c.send(t, `{"type":"send","ref":"r1","data":{"text":"hello"}}`) // a resend: no new entry
	if again := c.expect(t, "sent", ""); again.str("id") != sent.str("id") {
		t.Fatalf("resend answered %v, want the first id %s", again, sent.str("id"))
	}
	msgs := readUp(t, n.rdb, "backend")
	if len(msgs) != 1 {
		t.Fatalf("%d entries on herald:up, want 1", len(msgs))
	}
	v := msgs[0].Values
	want := map[string]string{"user": "alice", "device": "phone", "session": welcome.str("session"), "node": n.cfg.Node.ID, "ref": "r1", "data": `{"text":"hello"}`}
	for k, w := range want {
		if v[k] != w {
			t.Errorf("field %s = %v, want %q (entry %v)", k, v[k], w, v)
		}
	}
	if msgs[0].ID != sent.str("id") || v["ts"] == nil {
		t.Fatalf("entry %v", msgs[0])
	}
	c.send(t, fmt.Sprintf(`{"type":"send","ref":"big","data":%q}`, strings.Repeat("x", 200)))
	if e := c.expect(t, "error", ""); e.str("ref") != "big" || e.str("code") != wire.CodeBadFrame {
		t.Fatalf("oversize send answered %v", e)
	}
}

func TestRoomPublishingAcrossNodes(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	flags := []string{"--topics.publish", "room.*"}
	n1 := startTestNode(t, srv, nodeOptions{}, append(flags, "--node.id", "n1")...)
	n2 := startTestNode(t, srv, nodeOptions{}, append(flags, "--node.id", "n2")...)
	members := map[string]*wsClient{
		"alice": connect(t, n1, "alice", ""),
		"bob":   connect(t, n2, "bob", ""),
		"carol": connect(t, n2, "carol", ""),
	}
	for _, c := range members {
		subscribe(t, c, "room.1", "")
	}
	for user, c := range members {
		c.send(t, fmt.Sprintf(`{"type":"publish","topic":"room.1","ref":"p-%s","data":{"text":"hi from %s"},"from":"mallory"}`, user, user))
	}
	for user, c := range members {
		got := map[string]bool{}
		for len(got) < 3 {
			f := c.next(5 * time.Second)
			switch f.str("type") {
			case "sent":
				if f.str("ref") != "p-"+user {
					t.Fatalf("%s got %v", user, f)
				}
			case "push":
				from := f.str("from")
				if f.str("topic") != "room.1" || f["data"].(map[string]any)["text"] != "hi from "+from {
					t.Fatalf("%s got %v", user, f)
				}
				got[from] = true
			default:
				t.Fatalf("%s got %v", user, f)
			}
		}
	}

	// Without the grant: refused with the ref, nothing stored.
	outsider := connect(t, n1, "dave", "")
	outsider.send(t, `{"type":"publish","topic":"news","ref":"x1","data":1}`)
	if e := outsider.expect(t, "error", ""); e.str("code") != wire.CodeForbidden || e.str("ref") != "x1" {
		t.Fatalf("got %v", e)
	}
}

func TestSendWhileRedisIsDownIsRefusedThenStoredOnce(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	n := startTestNode(t, srv, nodeOptions{})
	c := connect(t, n, "alice", "")
	srv.Stop()
	c.send(t, `{"type":"send","ref":"r9","data":{"n":9}}`)
	e := c.next(15 * time.Second)
	if e.str("type") != "error" || e.str("code") != wire.CodeUnavailable || e.str("ref") != "r9" {
		t.Fatalf("send with Redis down answered %v", e)
	}
	srv.Restart(t)
	waitReady(t, n)
	c.send(t, `{"type":"send","ref":"r9","data":{"n":9}}`)
	sent := c.expect(t, "sent", "")
	c.send(t, `{"type":"send","ref":"r9","data":{"n":9}}`)
	if again := c.expect(t, "sent", ""); again.str("id") != sent.str("id") {
		t.Fatalf("second resend answered %v", again)
	}
	if msgs := readUp(t, srv.Client(t), "backend"); len(msgs) != 1 {
		t.Fatalf("%d entries stored, want 1", len(msgs))
	}
}

func TestUpstreamRateLimit(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{}, "--limits.upstream_per_second", "5")
	c := connect(t, n, "alice", "")
	for i := 0; i < 8; i++ {
		c.send(t, fmt.Sprintf(`{"type":"send","ref":"r%d","data":%d}`, i, i))
	}
	var sent, limited int
	for sent+limited < 8 {
		f := c.next(5 * time.Second)
		switch {
		case f.str("type") == "sent":
			sent++
		case f.str("type") == "error" && f.str("code") == wire.CodeRateLimited && f.str("ref") != "":
			limited++
		default:
			t.Fatalf("got %v", f)
		}
	}
	if sent != 5 || limited != 3 {
		t.Fatalf("sent %d, rate_limited %d; want 5 and 3", sent, limited)
	}
	if m := metricValue(t, n, "herald_rate_limited_total"); m != 3 {
		t.Fatalf("herald_rate_limited_total = %v", m)
	}
	// Repeated abuse: closed with 4003.
	time.Sleep(1100 * time.Millisecond)
	for i := 0; i < 30; i++ {
		if err := c.conn.WriteString(fmt.Sprintf(`{"type":"send","ref":"f%d","data":%d}`, i, i)); err != nil {
			break
		}
	}
	if code := c.closeCode(5 * time.Second); code != wire.ClosePolicy {
		t.Fatalf("close %d, want 4003", code)
	}
}
