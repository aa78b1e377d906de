package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

func post(t *testing.T, url, key, body string) (int, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]string
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("status %d body %q is not a JSON object", res.StatusCode, raw)
	}
	return res.StatusCode, out
}

func TestPublishOverHTTP(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{}, "--publish.api_key", "k-123", "--limits.max_payload_bytes", "1000")
	c := connect(t, n, "alice", "")
	url := "http://" + n.Addr() + "/v1/publish"

	status, body := post(t, url, "k-123", `{"to":"alice","data":{"text":"hi"},"id":"m1","from":"svc"}`)
	if status != http.StatusAccepted || body["id"] == "" {
		t.Fatalf("publish: %d %v", status, body)
	}
	p := c.pushes(1, 5*time.Second)[0]
	if p.str("id") != "m1" || p.str("from") != "svc" || p["data"].(map[string]any)["text"] != "hi" {
		t.Fatalf("push %v", p)
	}
	before, _ := n.rdb.XLen(context.Background(), "herald:in").Result()
	cases := []struct {
		name, key, body string
		status          int
	}{
		{"no key", "", `{"to":"alice","data":1}`, 401},
		{"wrong key", "nope", `{"to":"alice","data":1}`, 401},
		{"not json", "k-123", `{"to":`, 400},
		{"missing data", "k-123", `{"to":"alice"}`, 400},
		{"both recipients", "k-123", `{"to":"alice","topic":"t","data":1}`, 400},
		{"bad user", "k-123", `{"to":"a b","data":1}`, 400},
		{"unknown field", "k-123", `{"to":"alice","data":1,"priority":9}`, 400},
		{"oversize payload", "k-123", `{"to":"alice","data":"` + strings.Repeat("x", 2000) + `"}`, 400},
		{"oversize body", "k-123", `{"to":"alice","data":"` + strings.Repeat("x", 9000) + `"}`, 413},
		{"negative ttl", "k-123", `{"to":"alice","data":1,"ttl":-1}`, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, url, tc.key, tc.body)
			if status != tc.status || body["error"] == "" {
				t.Fatalf("got %d %v, want %d with an error", status, body, tc.status)
			}
		})
	}
	after, _ := n.rdb.XLen(context.Background(), "herald:in").Result()
	if after != before {
		t.Fatalf("refused publishes wrote %d entries", after-before)
	}
	res, err := http.Get(url)
	if err != nil || res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %v %v", res.StatusCode, err)
	}
	res.Body.Close()
}

func TestPublishOverHTTPIsOffWithoutAKey(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{})
	status, body := post(t, "http://"+n.Addr()+"/v1/publish", "", `{"to":"alice","data":1}`)
	if status != http.StatusNotFound || !strings.Contains(body["error"], "publish.api_key") {
		t.Fatalf("got %d %v", status, body)
	}
}

func TestHealthReadinessAndMetrics(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	n := startTestNode(t, srv, nodeOptions{})
	for _, path := range []string{"/healthz", "/readyz"} {
		res, err := http.Get("http://" + n.Addr() + path)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, res.StatusCode, err)
		}
		res.Body.Close()
	}
	c := connect(t, n, "alice", "")
	xadd(t, n, "to", "alice", "data", `{"seq":0}`)
	c.pushes(1, 5*time.Second)
	testkit.Eventually(t, 5*time.Second, func() error { // counted after the hand-off, which the client may beat
		if m := metricValue(t, n, "herald_pushes_in_total"); m != 1 {
			return errorf("herald_pushes_in_total = %v", m)
		}
		return nil
	})
	res, err := http.Get("http://" + n.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, name := range []string{"herald_sessions 1", "herald_pushes_in_total 1", "herald_pushes_out_total 1",
		"herald_dead_letters_total", "herald_slow_consumer_closes_total 0", "herald_redis_errors_total",
		"herald_delivery_latency_seconds_bucket"} {
		if !strings.Contains(string(raw), name) {
			t.Errorf("/metrics lacks %q", name)
		}
	}

	// Redis goes away: readiness turns red, the session stays open; it comes back
	// with its data (append-only file) and delivery resumes on the same session.
	srv.Kill()
	testkit.Eventually(t, 10*time.Second, func() error {
		res, err := http.Get("http://" + n.Addr() + "/readyz")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable {
			return errorf("readyz %d", res.StatusCode)
		}
		return nil
	})
	srv.Restart(t)
	waitReady(t, n)
	xadd(t, n, "to", "alice", "data", `{"seq":1}`)
	if p := c.pushes(1, 10*time.Second)[0]; seqOf(t, p) != 1 {
		t.Fatalf("after the Redis restart got %v", p)
	}
}

// Redis restarted without persistence lost presence and history: the node notices
// and closes its sessions with 1001 so that clients resume (and learn from
// recovered.complete=false that history is gone); a new session gets live pushes.
func TestRedisDataLossMakesSessionsResume(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	n := startTestNode(t, srv, nodeOptions{}, "--cluster.node_ttl", "3s")
	c := connect(t, n, "alice", "")
	srv.Kill()
	srv.Restart(t)
	if code := c.closeCode(15 * time.Second); code != wire.CloseGoingAway {
		t.Fatalf("close code %d, want 1001", code)
	}
	waitReady(t, n)
	c2 := connect(t, n, "alice", "since=1-0")
	if f := c2.next(10 * time.Second); f.str("type") != "recovered" || f["complete"] != false {
		t.Fatalf("got %v, want recovered complete:false", f)
	}
	xadd(t, n, "to", "alice", "data", `{"seq":1}`)
	if p := c2.pushes(1, 10*time.Second)[0]; seqOf(t, p) != 1 {
		t.Fatalf("got %v", p)
	}
}

func TestTokenExpiryClosesTheSession(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{})
	c, _, err := dial(t, n, "token="+mint(t, "alice", "", 1500*time.Millisecond), nil)
	if err != nil {
		t.Fatal(err)
	}
	if code := c.closeCode(10 * time.Second); code != wire.CloseTokenExpired {
		t.Fatalf("close code %d, want 4001", code)
	}
}

func TestDrainClosesSessionsWith1001AndRemovesPresence(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{})
	clients := []*wsClient{connect(t, n, "alice", ""), connect(t, n, "bob", "")}
	ctx := context.Background()
	testkit.Eventually(t, 5*time.Second, func() error {
		if m, _ := n.rdb.SMembers(ctx, "herald:{u:alice}:p").Result(); len(m) != 1 {
			return errorf("presence %v", m)
		}
		return nil
	})
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := n.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		if code := c.closeCode(5 * time.Second); code != wire.CloseGoingAway {
			t.Fatalf("close code %d, want 1001", code)
		}
	}
	rdb := n.redis.Client(t)
	for _, u := range []string{"alice", "bob"} {
		if m, _ := rdb.SMembers(ctx, "herald:{u:"+u+"}:p").Result(); len(m) != 0 {
			t.Fatalf("presence of %s after drain: %v", u, m)
		}
	}
	if err := n.Stop(stopCtx); err != nil { // idempotent
		t.Fatal(err)
	}
}
