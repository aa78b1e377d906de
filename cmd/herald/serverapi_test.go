package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/client"
	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

const testAPIKey = "test-api-key-0123456789"

// startAPINodes starts two nodes with the server API on one redis-server: the
// tests call n1 and watch sessions on n2.
func startAPINodes(t *testing.T, srv *redistest.Server, flags ...string) (n1, n2 *testNode) {
	t.Helper()
	flags = append([]string{"--publish.api_key", testAPIKey, "--cluster.node_ttl", "3s"}, flags...)
	n1 = startTestNode(t, srv, nodeOptions{}, append(flags, "--node.id", "n1")...)
	n2 = startTestNode(t, srv, nodeOptions{}, append(flags, "--node.id", "n2")...)
	return n1, n2
}

// api calls the server API of n with the test key; body nil sends none. It
// returns the status and the decoded JSON answer.
func api(t *testing.T, n *testNode, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return apiWithKey(t, n, method, path, body, testAPIKey)
}

func apiWithKey(t *testing.T, n *testNode, method, path string, body any, key string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, "http://"+n.Addr()+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: %d, body not JSON: %v", method, path, res.StatusCode, err)
	}
	return res.StatusCode, out
}

// mustAPI calls the server API and fails unless it answers want.
func mustAPI(t *testing.T, n *testNode, want int, method, path string, body any) map[string]any {
	t.Helper()
	status, out := api(t, n, method, path, body)
	if status != want {
		t.Fatalf("%s %s: %d %v, want %d", method, path, status, out, want)
	}
	return out
}

// mintToken signs a token with a jti and an iat of its own.
func mintToken(t *testing.T, user, device, jti string, iat time.Time) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix(), "iat": iat.Unix()}
	if jti != "" {
		claims["jti"] = jti
	}
	if device != "" {
		claims["device"] = device
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// connectToken dials n with token and expects the welcome frame.
func connectToken(t *testing.T, n *testNode, token string) (*wsClient, frame) {
	t.Helper()
	c, res, err := dial(t, n, "token="+token, nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, statusOf(res))
	}
	w := c.next(5 * time.Second)
	if w.str("type") != "welcome" {
		t.Fatalf("first frame %v, want welcome", w)
	}
	return c, w
}

// refusedWith dials n with token and expects the upgrade refused with status.
func refusedWith(t *testing.T, n *testNode, token string, status int) {
	t.Helper()
	_, res, err := dial(t, n, "token="+token, nil)
	if err == nil || res == nil || res.StatusCode != status {
		t.Fatalf("dial: %v (%v), want refused with %d", err, statusOf(res), status)
	}
}

// waitSessions waits until the presence query lists n sessions of user.
func waitSessions(t *testing.T, n *testNode, user string, want int) []any {
	t.Helper()
	var sessions []any
	testkit.Eventually(t, 5*time.Second, func() error {
		out := mustAPI(t, n, http.StatusOK, "GET", "/v1/presence?user="+user, nil)
		sessions, _ = out["sessions"].([]any)
		if len(sessions) != want {
			return fmt.Errorf("%d sessions of %s listed, want %d: %v", len(sessions), user, want, out)
		}
		return nil
	})
	return sessions
}

// A disconnect called on n1 closes the matching sessions on n2: one device with
// 4010, one session with 1012 (reconnect), then all of the user's with 4010.
func TestServerAPIDisconnect(t *testing.T) {
	n1, n2 := startAPINodes(t, redistest.Start(t, redistest.Options{}))
	now := time.Now()
	phone, _ := connectToken(t, n2, mintToken(t, "alice", "phone", "", now))
	laptop, _ := connectToken(t, n2, mintToken(t, "alice", "laptop", "", now))
	tablet, w := connectToken(t, n2, mintToken(t, "alice", "tablet", "", now))
	bob := connect(t, n2, "bob", "")
	waitSessions(t, n1, "alice", 3)

	mustAPI(t, n1, http.StatusAccepted, "POST", "/v1/disconnect", map[string]any{"user": "alice", "device": "laptop", "reason": "banned"})
	if code := laptop.closeCode(5 * time.Second); code != wire.CloseDisconnected {
		t.Fatalf("laptop closed with %d, want 4010", code)
	}
	mustAPI(t, n1, http.StatusAccepted, "POST", "/v1/disconnect", map[string]any{"user": "alice", "session": w.str("session"), "reconnect": true})
	if code := tablet.closeCode(5 * time.Second); code != wire.CloseServiceRestart {
		t.Fatalf("tablet closed with %d, want 1012", code)
	}
	phone.quiet(100 * time.Millisecond) // still open
	mustAPI(t, n1, http.StatusAccepted, "POST", "/v1/disconnect", map[string]any{"user": "alice"})
	if code := phone.closeCode(5 * time.Second); code != wire.CloseDisconnected {
		t.Fatalf("phone closed with %d, want 4010", code)
	}
	bob.quiet(100 * time.Millisecond)
	waitSessions(t, n1, "alice", 0)
	if m := metricValue(t, n2, `herald_operator_closes_total{code="4010"}`); m != 2 {
		t.Fatalf("herald_operator_closes_total{code=4010} = %v on n2, want 2", m)
	}
}

// A service appends to the control stream itself; each node acts on it, and a
// bad entry is dead-lettered once with its reason, whichever node reads it.
func TestControlStreamEntriesFromRedis(t *testing.T) {
	n1, n2 := startAPINodes(t, redistest.Start(t, redistest.Options{}))
	a1 := connect(t, n1, "alice", "")
	a2 := connect(t, n2, "alice", "")
	ctx := context.Background()
	bad := [][]any{
		{"op", "explode", "user", "alice"},
		{"op", "disconnect"},
		{"op", "disconnect", "user", "alice", "reconnect", "maybe"},
		{"op", "disconnect", "user", "alice", "colour", "red"},
		{"op", "revoke", "user", "alice"},
	}
	for _, f := range bad {
		n1.rdb.XAdd(ctx, &redis.XAddArgs{Stream: "herald:ctl", Values: f})
	}
	n1.rdb.XAdd(ctx, &redis.XAddArgs{Stream: "herald:ctl", Values: []any{"op", "disconnect", "user", "alice", "reconnect", "true"}})
	for _, c := range []*wsClient{a1, a2} {
		if code := c.closeCode(5 * time.Second); code != wire.CloseServiceRestart {
			t.Fatalf("closed with %d, want 1012", code)
		}
	}
	testkit.Eventually(t, 5*time.Second, func() error {
		dlq, err := n1.rdb.XRange(ctx, "herald:dlq", "-", "+").Result()
		if err != nil || len(dlq) != len(bad) {
			return fmt.Errorf("%d dead letters (%v), want %d", len(dlq), err, len(bad))
		}
		return nil
	})
	dlq, _ := n1.rdb.XRange(ctx, "herald:dlq", "-", "+").Result()
	for i, want := range []string{"unknown op", "missing user", "bad reconnect", "unknown field", "revoke needs"} {
		if r, _ := dlq[i].Values["reason"].(string); !strings.Contains(r, want) || dlq[i].Values["stream"] != "herald:ctl" {
			t.Errorf("dead letter %d: %v, want a reason with %q", i, dlq[i].Values, want)
		}
	}
	time.Sleep(300 * time.Millisecond) // both nodes read them; still one dead letter each
	if l, _ := n1.rdb.XLen(ctx, "herald:dlq").Result(); l != int64(len(bad)) {
		t.Fatalf("%d dead letters, want %d", l, len(bad))
	}
}

// A revoked token's sessions are closed with 4001 on every node, it is refused
// at connect (401) there and on a node started after the revocation, and newer
// tokens are accepted: by jti, and by user and issued_before.
func TestServerAPIRevoke(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	n1, n2 := startAPINodes(t, srv)
	now := time.Now()
	leaked := mintToken(t, "alice", "", "j-leaked", now)
	c, _ := connectToken(t, n2, leaked)
	other, _ := connectToken(t, n2, mintToken(t, "alice", "", "j-other", now))
	mustAPI(t, n1, http.StatusAccepted, "POST", "/v1/revoke", map[string]any{"jti": "j-leaked"})
	if code := c.closeCode(5 * time.Second); code != wire.CloseTokenExpired {
		t.Fatalf("closed with %d, want 4001", code)
	}
	refusedWith(t, n2, leaked, http.StatusUnauthorized)
	refusedWith(t, n1, leaked, http.StatusUnauthorized)
	other.quiet(100 * time.Millisecond)

	old := mintToken(t, "bob", "", "", now.Add(-time.Hour))
	b, _ := connectToken(t, n2, old)
	cutoff := now.Add(-time.Minute).Unix()
	mustAPI(t, n1, http.StatusAccepted, "POST", "/v1/revoke", map[string]any{"user": "bob", "issued_before": cutoff})
	if code := b.closeCode(5 * time.Second); code != wire.CloseTokenExpired {
		t.Fatalf("bob closed with %d, want 4001", code)
	}
	refusedWith(t, n2, old, http.StatusUnauthorized)
	connectToken(t, n2, mintToken(t, "bob", "", "", now)) // issued after the cutoff

	n3 := startTestNode(t, srv, nodeOptions{}, "--publish.api_key", testAPIKey, "--node.id", "n3")
	refusedWith(t, n3, leaked, http.StatusUnauthorized)
	refusedWith(t, n3, old, http.StatusUnauthorized)
	connectToken(t, n3, mintToken(t, "alice", "", "j-new", now))
}

// A revocation a service appended to the control stream itself is known to a
// node that starts later, from the stream.
func TestRevocationFromTheStreamReachesANewNode(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := srv.Client(t)
	rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: "herald:ctl", Values: []any{"op", "revoke", "jti", "j1"}})
	n := startTestNode(t, srv, nodeOptions{}, "--publish.api_key", testAPIKey)
	refusedWith(t, n, mintToken(t, "alice", "", "j1", time.Now()), http.StatusUnauthorized)
	connectToken(t, n, mintToken(t, "alice", "", "j2", time.Now()))
}

// What the server API refuses, and that it changes nothing then.
func TestServerAPIRefusals(t *testing.T) {
	n1, _ := startAPINodes(t, redistest.Start(t, redistest.Options{}))
	c := connect(t, n1, "alice", "")
	for _, path := range []string{"POST /v1/disconnect", "POST /v1/revoke", "GET /v1/presence", "POST /v1/presence", "GET /v1/stats", "GET /v1/topics/news", "GET /v1/history?user=alice"} {
		method, path, _ := strings.Cut(path, " ")
		var body any = map[string]any{"user": "alice"}
		if method == "GET" {
			body = nil
		}
		if status, out := apiWithKey(t, n1, method, path, body, ""); status != http.StatusUnauthorized || out["error"] == nil {
			t.Errorf("%s without a key: %d %v", path, status, out)
		}
		if status, _ := apiWithKey(t, n1, method, path, body, "wrong"); status != http.StatusUnauthorized {
			t.Errorf("%s with a wrong key: %d", path, status)
		}
	}
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"GET", "/v1/disconnect", nil, http.StatusMethodNotAllowed},
		{"DELETE", "/v1/stats", nil, http.StatusMethodNotAllowed},
		{"POST", "/v1/disconnect", map[string]any{"user": "alice", "kick": true}, http.StatusBadRequest},
		{"POST", "/v1/disconnect", `{"user":"alice"`, http.StatusBadRequest},
		{"POST", "/v1/disconnect", map[string]any{"user": "al ice"}, http.StatusBadRequest},
		{"POST", "/v1/disconnect", map[string]any{"device": "phone"}, http.StatusBadRequest},
		{"POST", "/v1/disconnect", map[string]any{"user": "alice", "reason": strings.Repeat("x", 124)}, http.StatusBadRequest},
		{"POST", "/v1/revoke", map[string]any{"jti": "j", "user": "alice", "issued_before": 1}, http.StatusBadRequest},
		{"POST", "/v1/revoke", map[string]any{"user": "alice"}, http.StatusBadRequest},
		{"POST", "/v1/revoke", map[string]any{"user": "alice", "issued_before": "soon"}, http.StatusBadRequest},
		{"GET", "/v1/presence", nil, http.StatusBadRequest},
		{"POST", "/v1/presence", map[string]any{"users": []string{}}, http.StatusBadRequest},
		{"POST", "/v1/presence", map[string]any{"users": []string{"a b"}}, http.StatusBadRequest},
		{"POST", "/v1/presence", map[string]any{"user": "alice"}, http.StatusBadRequest},
		{"GET", "/v1/topics/", nil, http.StatusBadRequest},
		{"GET", "/v1/history", nil, http.StatusBadRequest},
	} {
		if status, out := api(t, n1, tc.method, tc.path, tc.body); status != tc.status || out["error"] == nil {
			t.Errorf("%s %s %v: %d %v, want %d with an error", tc.method, tc.path, tc.body, status, out, tc.status)
		}
	}
	c.quiet(200 * time.Millisecond) // nothing was disconnected
	if l, _ := n1.rdb.XLen(context.Background(), "herald:ctl").Result(); l != 0 {
		t.Fatalf("%d control entries after refusals only", l)
	}
	if m := metricValue(t, n1, `herald_api_requests_total{op="disconnect",outcome="bad_request"}`); m != 5 {
		t.Fatalf("bad disconnects counted %v, want 5", m)
	}
}

// The Go client obeys the operator: on 1012 it comes back at once (a new
// session), on 4010 it stops for good with ErrDisconnected.
func TestServerAPIDisconnectGoClient(t *testing.T) {
	n1, n2 := startAPINodes(t, redistest.Start(t, redistest.Options{}))
	states := make(chan error, 100)
	welcomes := make(chan string, 100)
	c, err := client.Dial(context.Background(), client.Config{
		URLs:      []string{"ws://" + n2.Addr() + "/ws"},
		Token:     func(context.Context) (string, error) { return mint(t, "alice", "phone", time.Hour), nil },
		Backoff:   client.Backoff{Min: time.Hour, Max: time.Hour}, // only an immediate reconnection passes
		OnWelcome: func(w client.Welcome) { welcomes <- w.Session },
		OnState: func(s client.State, err error) {
			if s == client.Closed {
				states <- err
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	first := <-welcomes
	waitSessions(t, n1, "alice", 1)
	mustAPI(t, n1, http.StatusAccepted, "POST", "/v1/disconnect", map[string]any{"user": "alice", "reconnect": true})
	select {
	case s := <-welcomes:
		if s == first {
			t.Fatalf("welcomed again to session %s", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not come back after 1012")
	}
	mustAPI(t, n1, http.StatusAccepted, "POST", "/v1/disconnect", map[string]any{"user": "alice", "reason": "banned"})
	select {
	case err := <-states:
		var ce *client.CloseError
		if !errors.Is(err, client.ErrDisconnected) || !errors.As(err, &ce) || ce.Reason != "banned" {
			t.Fatalf("closed with %v, want ErrDisconnected with the reason", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not stop after 4010")
	}
	waitSessions(t, n1, "alice", 0)
	if len(welcomes) != 0 {
		t.Fatal("the client came back after 4010")
	}
}
