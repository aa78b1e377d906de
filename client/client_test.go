package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/herald-push/herald/client"
	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
)

// Integration tests: the client against herald processes and Redis (node_test.go).

func TestPushesInOrderAndAutoAck(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{})
	rdb := rs.Client(t)
	n := startNode(t, rs, "n1")
	rec := &recorder{}
	cfg := rec.config(t, "alice", n.url())
	cfg.Device = "phone"
	cfg.AutoAck = true
	c := dial(t, cfg)
	if id, node := c.Session(); id == "" || node != "n1" {
		t.Fatalf("session %q on node %q, want a session on n1", id, node)
	}

	const total = 200
	ids := make([]string, total)
	for i := range total {
		ids[i] = publish(t, rdb, "alice", i+1)
	}
	rec.waitNs(t, total)
	rec.mu.Lock()
	pushes := append([]client.Push(nil), rec.pushes...)
	rec.mu.Unlock()
	for i, p := range pushes {
		if p.ID != ids[i] || p.To != "alice" || p.Topic != "" || p.TS <= 0 || p.Offset == "" {
			t.Fatalf("push %d = %+v, want id %s to alice", i, p, ids[i])
		}
		if i > 0 && !offsetBefore(pushes[i-1].Offset, p.Offset) {
			t.Fatalf("offsets out of order: %s then %s", pushes[i-1].Offset, p.Offset)
		}
	}
	last := pushes[total-1].Offset
	if got := c.LastOffset(); got != last {
		t.Fatalf("LastOffset %s, want %s", got, last)
	}

	// AutoAck stored the device's cursor: the node flushes cursors in batches.
	testkit.Eventually(t, 10*time.Second, func() error {
		got, err := rdb.HGet(context.Background(), "herald:{u:alice}:c", "phone").Result()
		if err != nil || got != last {
			return fmt.Errorf("cursor %q (%v), want %s", got, err, last)
		}
		return nil
	})
	// So a new session of that device resumes after it: nothing replayed.
	rec2 := &recorder{}
	cfg2 := rec2.config(t, "alice", n.url())
	cfg2.Device = "phone"
	dial(t, cfg2)
	testkit.Eventually(t, 5*time.Second, func() error {
		rec2.mu.Lock()
		defer rec2.mu.Unlock()
		if fmt.Sprint(rec2.recovered) != "[alice:true]" {
			return fmt.Errorf("recovered %v", rec2.recovered)
		}
		return nil
	})
	if got := rec2.ns(); len(got) != 0 {
		t.Fatalf("device session replayed %v, want nothing after the acked cursor", got)
	}
}

func offsetBefore(a, b string) bool {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	ami, _ := strconv.ParseUint(am, 10, 64)
	bmi, _ := strconv.ParseUint(bm, 10, 64)
	asi, _ := strconv.ParseUint(as, 10, 64)
	bsi, _ := strconv.ParseUint(bs, 10, 64)
	return ami < bmi || (ami == bmi && asi < bsi)
}

func TestDuplicateIDDropped(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{})
	rdb := rs.Client(t)
	n := startNode(t, rs, "n1")
	rec := &recorder{}
	dial(t, rec.config(t, "bob", n.url()))

	publish(t, rdb, "bob", 1, "id", "order-42")
	publish(t, rdb, "bob", 1, "id", "order-42") // the publisher retried
	publish(t, rdb, "bob", 2, "id", "order-43")
	rec.waitNs(t, 2)
	rec.mu.Lock()
	got := []string{rec.pushes[0].ID, rec.pushes[1].ID}
	rec.mu.Unlock()
	if got[0] != "order-42" || got[1] != "order-43" {
		t.Fatalf("ids %v", got)
	}
	// The node did store (and push) both copies: the client dropped one.
	if n, err := rdb.XLen(context.Background(), "herald:{u:bob}:h").Result(); err != nil || n != 3 {
		t.Fatalf("history length %d (%v), want 3", n, err)
	}
}

func TestReconnectAfterKillAndRestart(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{})
	rdb := rs.Client(t)
	n := startNode(t, rs, "n1")
	rec := &recorder{}
	c := dial(t, rec.config(t, "carol", n.url()))
	if err := c.Subscribe("news", ""); err != nil {
		t.Fatal(err)
	}

	for i := 1; i <= 10; i++ {
		publish(t, rdb, "carol", i)
	}
	rec.waitNs(t, 10)
	waitRouted(t, rdb)

	n.kill()
	testkit.Eventually(t, 10*time.Second, func() error {
		if rec.count(client.Disconnected) == 0 {
			return errors.New("no disconnect yet")
		}
		return nil
	})
	for i := 11; i <= 20; i++ { // during the outage
		publish(t, rdb, "carol", i)
	}
	n.start() // same port, same node id
	rec.waitNs(t, 20)
	for i := 21; i <= 30; i++ {
		publish(t, rdb, "carol", i)
	}
	rec.waitNs(t, 30)
	if rec.count(client.Connected) < 2 || rec.count(client.Closed) != 0 {
		t.Fatalf("states %s", rec.stateLog())
	}
	// The client resubscribed on the new connection: a topic push arrives.
	testkit.Eventually(t, 5*time.Second, func() error {
		publishTopic(t, rdb, "news", 100)
		if !rec.hasTopicPush("news") {
			return fmt.Errorf("no push on the resubscribed topic yet")
		}
		return nil
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	// The user stream's and the topic's recovered frames come in either order.
	if !slices.Contains(rec.recovered, "carol:true") {
		t.Fatalf("recovered %v, want a complete replay of carol's stream after the reconnect", rec.recovered)
	}
}

func TestFailoverToSecondNode(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{})
	rdb := rs.Client(t)
	a := startNode(t, rs, "node-a")
	b := startNode(t, rs, "node-b")
	rec := &recorder{}
	c := dial(t, rec.config(t, "dave", a.url(), b.url()))
	if _, node := c.Session(); node != "node-a" {
		t.Fatalf("first connection to %s, want node-a (the first URL)", node)
	}
	for i := 1; i <= 10; i++ {
		publish(t, rdb, "dave", i)
	}
	rec.waitNs(t, 10)
	waitRouted(t, rdb)

	a.kill()
	for i := 11; i <= 20; i++ {
		publish(t, rdb, "dave", i)
	}
	testkit.Eventually(t, 10*time.Second, func() error {
		if _, node := c.Session(); node != "node-b" {
			return fmt.Errorf("on %s; states %s", node, rec.stateLog())
		}
		return nil
	})
	for i := 21; i <= 30; i++ {
		publish(t, rdb, "dave", i)
	}
	rec.waitNs(t, 30)
}

func TestDrainMovesToNextNode(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{})
	rdb := rs.Client(t)
	a := startNode(t, rs, "node-a")
	b := startNode(t, rs, "node-b")
	rec := &recorder{}
	c := dial(t, rec.config(t, "dora", a.url(), b.url()))
	publish(t, rdb, "dora", 1)
	rec.waitNs(t, 1)

	a.term()
	for i := 2; i <= 5; i++ {
		publish(t, rdb, "dora", i)
	}
	testkit.Eventually(t, 10*time.Second, func() error {
		if _, node := c.Session(); node != "node-b" {
			return fmt.Errorf("on %s; states %s", node, rec.stateLog())
		}
		return nil
	})
	rec.waitNs(t, 5)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var ce *client.CloseError
	for _, e := range rec.states {
		if e.s == client.Disconnected {
			if !errors.As(e.err, &ce) || ce.Code != 1001 {
				t.Fatalf("disconnected with %v, want 1001", e.err)
			}
			t.Logf("drained: %v", e.err)
			return
		}
	}
	t.Fatalf("no Disconnected state: %s", rec.stateLog())
}

func TestTokenExpiryReconnectsWithNewToken(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{})
	rdb := rs.Client(t)
	n := startNode(t, rs, "n1")
	rec := &recorder{}
	cfg := rec.config(t, "erin", n.url())
	cfg.Token = func(context.Context) (string, error) {
		rec.tokens.Add(1)
		return mint(t, "erin", 2*time.Second), nil
	}
	dial(t, cfg)
	publish(t, rdb, "erin", 1)
	rec.waitNs(t, 1)

	testkit.Eventually(t, 15*time.Second, func() error {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		saw4001 := false
		for _, e := range rec.states {
			var ce *client.CloseError
			if e.s == client.Disconnected && errors.As(e.err, &ce) && ce.Code == 4001 {
				saw4001 = true
			}
			if saw4001 && e.s == client.Connected {
				return nil
			}
		}
		return errors.New("no reconnection after a 4001 yet")
	})
	if got := rec.tokens.Load(); got < 2 {
		t.Fatalf("Token called %d times, want a new token after 4001", got)
	}
	publish(t, rdb, "erin", 2)
	rec.waitNs(t, 2)
	if rec.count(client.Closed) != 0 {
		t.Fatalf("states %s", rec.stateLog())
	}
}

func TestUnauthorizedIsNotRetried(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{})
	n := startNode(t, rs, "n1")
	rec := &recorder{}
	cfg := rec.config(t, "frank", n.url())
	cfg.Token = func(context.Context) (string, error) {
		rec.tokens.Add(1)
		return auth.Mint([]byte("some-other-secret-0123456789"), auth.Claims{User: "frank", Expiry: time.Now().Add(time.Hour)}, time.Now())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, cfg)
	var he *client.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusUnauthorized || he.Reason == "" {
		t.Fatalf("Dial = %v, %v; want an *HTTPError 401 with a reason", c, err)
	}
	t.Logf("refused: %v", err)
	if got := rec.tokens.Load(); got != 1 {
		t.Fatalf("Token called %d times, want 1 (no retry)", got)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	last := rec.states[len(rec.states)-1]
	if last.s != client.Closed || !errors.As(last.err, &he) {
		t.Fatalf("states %v, want Closed with the HTTP error last", rec.states)
	}
}

func TestDialGivesUpWithItsContext(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	rec := &recorder{}
	cfg := rec.config(t, "gina", "ws://"+testkit.FreeAddr(t)+"/ws") // nothing listens there
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := client.Dial(ctx, cfg)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Dial = %v, want the context's error and the last attempt's", err)
	}
	if rec.tokens.Load() < 2 {
		t.Fatalf("Token called %d times, want retries until the context ended", rec.tokens.Load())
	}
	goleak.VerifyNone(t, leaks)
}

func TestCloseStopsEverything(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{})
	rdb := rs.Client(t)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, rs, "n1")
	leaks := goleak.IgnoreCurrent()

	rec := &recorder{}
	cfg := rec.config(t, "hank", n.url())
	cfg.AutoAck = true
	cfg.PingInterval = 50 * time.Millisecond
	c, err := client.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, rdb, "hank", 1)
	rec.waitNs(t, 1)
	if err := c.Send("r1", map[string]string{"text": "hi"}); err != nil {
		t.Fatalf("send: %v", err)
	}
	if err := c.Subscribe("news", ""); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	testkit.Eventually(t, 5*time.Second, func() error { // the subscription works
		publishTopic(t, rdb, "news", 100)
		if !rec.hasTopicPush("news") {
			return fmt.Errorf("no topic push yet")
		}
		return nil
	})

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	goleak.VerifyNone(t, leaks)
	if err := c.Send("r2", 1); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
	rec.mu.Lock()
	last := rec.states[len(rec.states)-1]
	rec.mu.Unlock()
	if last.s != client.Closed || last.err != nil {
		t.Fatalf("states %s, want Closed(nil) last", rec.stateLog())
	}
	if rec.count(client.Disconnected) != 0 {
		t.Fatalf("states %s", rec.stateLog())
	}
}

func TestAnswersServerPings(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{})
	rdb := rs.Client(t)
	// The node pings every ping_timeout/3 and closes a session from which nothing
	// arrived for ping_timeout; this client sends nothing but pongs.
	n := startNode(t, rs, "n1", "--gateway.ping_timeout", "600ms")
	rec := &recorder{}
	cfg := rec.config(t, "ivy", n.url())
	cfg.PingInterval = -1
	dial(t, cfg)
	time.Sleep(2 * time.Second) // over three ping timeouts
	if rec.count(client.Disconnected) != 0 || rec.count(client.Connected) != 1 {
		t.Fatalf("states %s, want one connection kept alive by pongs", rec.stateLog())
	}
	publish(t, rdb, "ivy", 1)
	rec.waitNs(t, 1)
}
