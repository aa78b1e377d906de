package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

func (c *wsClient) send(t *testing.T, frame string) {
	t.Helper()
	if err := c.conn.WriteString(frame); err != nil {
		t.Fatal(err)
	}
}

// expect reads the next frame and checks its type (and topic when given).
func (c *wsClient) expect(t *testing.T, typ, topic string) frame {
	t.Helper()
	f := c.next(5 * time.Second)
	if f.str("type") != typ || (topic != "" && f.str("topic") != topic) {
		t.Fatalf("got %v, want %s for topic %q", f, typ, topic)
	}
	return f
}

func subscribe(t *testing.T, c *wsClient, topic, since string) {
	t.Helper()
	if since == "" {
		c.send(t, fmt.Sprintf(`{"type":"subscribe","topic":%q}`, topic))
	} else {
		c.send(t, fmt.Sprintf(`{"type":"subscribe","topic":%q,"since":%q}`, topic, since))
	}
	c.expect(t, "subscribed", topic)
}

func TestTopicBroadcastAcrossNodesAndUnsubscribe(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	n1 := startTestNode(t, srv, nodeOptions{}, "--node.id", "n1")
	n2 := startTestNode(t, srv, nodeOptions{}, "--node.id", "n2")
	n3 := startTestNode(t, srv, nodeOptions{}, "--node.id", "n3")
	a := connect(t, n1, "alice", "")
	b := connect(t, n2, "bob", "")
	b2 := connect(t, n2, "bert", "")
	outsider := connect(t, n3, "carol", "")
	for _, c := range []*wsClient{a, b, b2} {
		subscribe(t, c, "news", "")
	}
	for i := 0; i < 20; i++ {
		xadd(t, n1, "topic", "news", "data", fmt.Sprintf(`{"seq":%d}`, i))
	}
	for _, c := range []*wsClient{a, b, b2} {
		got := c.pushes(20, 5*time.Second)
		for i, p := range got {
			if seqOf(t, p) != i || p.str("topic") != "news" || p.str("to") != "" {
				t.Fatalf("push %d: %v", i, p)
			}
		}
		c.quiet(100 * time.Millisecond) // each push once
	}
	outsider.quiet(100 * time.Millisecond)
	if got := metricValue(t, n3, "herald_inbox_entries_total"); got != 0 {
		t.Fatalf("n3 hosts no subscriber but read %v inbox entries", got)
	}

	b.send(t, `{"type":"unsubscribe","topic":"news"}`)
	b.expect(t, "unsubscribed", "news")
	xadd(t, n1, "topic", "news", "data", `{"seq":20}`)
	a.pushes(1, 5*time.Second)
	b2.pushes(1, 5*time.Second)
	b.quiet(300 * time.Millisecond)
}

func TestTopicPolicyAndLimits(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{},
		"--topics.subscribe", "news,user.{user},room.*", "--limits.max_subscriptions", "3")
	c := connect(t, n, "alice", "")
	subscribe(t, c, "news", "")
	subscribe(t, c, "user.alice", "")
	for _, topic := range []string{"user.bob", "secret", "rooms"} {
		c.send(t, fmt.Sprintf(`{"type":"subscribe","topic":%q}`, topic))
		if e := c.expect(t, "error", topic); e.str("code") != wire.CodeForbidden || e.str("reason") == "" {
			t.Fatalf("subscribe %s answered %v", topic, e)
		}
	}
	subscribe(t, c, "room.1", "")
	c.send(t, `{"type":"subscribe","topic":"room.2"}`)
	if e := c.expect(t, "error", "room.2"); e.str("code") != wire.CodeLimit {
		t.Fatalf("fourth subscription answered %v", e)
	}
	if m := metricValue(t, n, "herald_subscriptions_refused_total"); m != 4 {
		t.Fatalf("herald_subscriptions_refused_total = %v, want 3 forbidden + 1 over the limit", m)
	}
	c.send(t, `{"type":"subscribe","topic":"bad topic"}`)
	if e := c.expect(t, "error", ""); e.str("code") != wire.CodeBadFrame {
		t.Fatalf("bad name answered %v", e)
	}
	// Refused subscriptions deliver nothing.
	xadd(t, n, "topic", "secret", "data", `{"seq":0}`)
	xadd(t, n, "topic", "news", "data", `{"seq":1}`)
	if p := c.pushes(1, 5*time.Second)[0]; p.str("topic") != "news" {
		t.Fatalf("got %v", p)
	}

	// The token's topics claim subscribes from the start and grants the topic.
	tok, err := auth.Mint([]byte(testSecret), auth.Claims{User: "bob", Topics: []string{"secret"}, Expiry: time.Now().Add(time.Hour)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := dial(t, n, "token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		seen[b.next(5*time.Second).str("type")] = true
	}
	if !seen["welcome"] || !seen["subscribed"] {
		t.Fatalf("token topics session got %v", seen)
	}
	xadd(t, n, "topic", "secret", "data", `{"seq":2}`)
	if p := b.pushes(1, 5*time.Second)[0]; p.str("topic") != "secret" || seqOf(t, p) != 2 {
		t.Fatalf("got %v", p)
	}
}

// subscribe with since replays the topic's history after it, then recovered, then
// live; racing live pushes produce no gap and no duplicate.
func TestTopicRecoveryWithSince(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{})
	c := connect(t, n, "alice", "")
	subscribe(t, c, "scores", "")
	xadd(t, n, "topic", "scores", "data", `{"seq":0}`)
	first := c.pushes(1, 5*time.Second)[0]
	c.close()

	const total = 300
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i < total; i++ {
			xadd(t, n, "topic", "scores", "data", fmt.Sprintf(`{"seq":%d}`, i))
		}
	}()
	time.Sleep(5 * time.Millisecond)
	c2 := connect(t, n, "alice", "")
	subscribe(t, c2, "scores", first.str("offset"))
	c2.resumed(t, 1, total, "topic", "scores", 10*time.Second)
	wg.Wait()
	c2.quiet(200 * time.Millisecond)

	// A non-zero since older than the topic's history is an offset of a stream that
	// is gone (trimmed, expired or deleted): complete false, although the history
	// was never trimmed. From 0-0 the whole history is complete.
	for since, want := range map[string]bool{"1-0": false, "0-0": true} {
		c3 := connect(t, n, "bob", "")
		subscribe(t, c3, "scores", since)
		got := c3.pushes(total, 10*time.Second)
		if seqOf(t, got[0]) != 0 {
			t.Fatalf("replay since %s started at %v", since, got[0])
		}
		if rec := c3.expect(t, "recovered", "scores"); rec["complete"] != want {
			t.Fatalf("since %s: history holds all %d, complete should be %v: %v", since, total, want, rec)
		}
		c3.close()
	}
}

// A subscriber that stops reading is cut off with 4008; the others get every push
// and the node's memory stays bounded.
func TestSlowTopicSubscriberAmongFastOnes(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{}, "--history.size", "20000")
	var fast []*wsClient
	for i := 0; i < 3; i++ {
		c := connect(t, n, fmt.Sprintf("fast%d", i), "")
		subscribe(t, c, "feed", "")
		c.mu.Lock()
		c.counting = true
		c.mu.Unlock()
		fast = append(fast, c)
	}
	tok, _ := auth.Mint([]byte(testSecret), auth.Claims{User: "slow", Topics: []string{"feed"}, Expiry: time.Now().Add(time.Hour)}, time.Now())
	slow := dialStalledToken(t, n, tok)
	testkit.Eventually(t, 5*time.Second, func() error {
		if m := metricValue(t, n, "herald_sessions"); m != 4 {
			return errorf("sessions %v", m)
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond) // the slow session's subscription is live

	const total = 16000
	payload := strings.Repeat("x", 1000)
	publishMany(t, n, total, func(i int) []any {
		return []any{"topic", "feed", "data", fmt.Sprintf(`{"seq":%d,"p":%q}`, i, payload)}
	})
	for _, c := range fast {
		testkit.Eventually(t, 60*time.Second, func() error {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.count != total {
				return errorf("fast subscriber got %d of %d", c.count, total)
			}
			return nil
		})
	}
	testkit.Eventually(t, 20*time.Second, func() error {
		if m := metricValue(t, n, "herald_slow_consumer_closes_total"); m != 1 {
			return errorf("slow closes %v", m)
		}
		return nil
	})
	slow.drain(t)
}

func dialStalledToken(t *testing.T, n *testNode, tok string) *stalledClient {
	t.Helper()
	return dialStalledWith(t, n, tok)
}

// Measures (and logs; no timing assertion) the delivery latency of fast topic
// subscribers with and without a stalled subscriber among them.
func TestSlowSubscriberDoesNotDelayTheOthers(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{})
	var fast []*wsClient
	for i := 0; i < 3; i++ {
		c := connect(t, n, fmt.Sprintf("fast%d", i), "")
		subscribe(t, c, "feed", "")
		fast = append(fast, c)
	}
	measure := func(phase string, from int) {
		const count = 400
		pad := strings.Repeat("x", 2000)
		for i := 0; i < count; i++ {
			xadd(t, n, "topic", "feed", "data", fmt.Sprintf(`{"seq":%d,"sent":%d,"p":%q}`, from+i, time.Now().UnixNano(), pad))
			if i%20 == 19 {
				time.Sleep(10 * time.Millisecond) // about 2,000 a second
			}
		}
		var lat []time.Duration
		for _, c := range fast {
			for _, p := range c.pushes(count, 30*time.Second) {
				sent := p["data"].(map[string]any)["sent"].(float64)
				lat = append(lat, time.Duration(p["_received"].(float64)-sent))
			}
		}
		sortDurations(lat)
		t.Logf("%s: fast subscribers' latency p50 %v, p99 %v, max %v (%d deliveries, publish to receipt, race detector on)",
			phase, lat[len(lat)/2].Round(10*time.Microsecond), lat[len(lat)*99/100].Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond), len(lat))
	}
	measure("without a stalled subscriber", 0)
	tok, _ := auth.Mint([]byte(testSecret), auth.Claims{User: "slow", Topics: []string{"feed"}, Expiry: time.Now().Add(time.Hour)}, time.Now())
	slow := dialStalledToken(t, n, tok)
	time.Sleep(300 * time.Millisecond)
	measure("with a stalled subscriber", 400)
	_ = slow.raw.Close()
}

func sortDurations(d []time.Duration) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j] < d[j-1]; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}
