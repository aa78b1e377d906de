package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

func TestBadTokensAreRefusedBeforeUpgrade(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{}, "--auth.allowed_origins", "https://app.example")
	wrongKey, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("another-secret-0123456789"))
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice"}).SignedString([]byte(testSecret))
	cases := []struct {
		name   string
		query  string
		header http.Header
		status int
	}{
		{"missing", "", nil, 401},
		{"malformed", "token=not.a.jwt", nil, 401},
		{"expired", "token=" + mint(t, "alice", "", -time.Minute), nil, 401},
		{"wrong signature", "token=" + wrongKey, nil, 401},
		{"no exp", "token=" + noExp, nil, 401},
		{"bad header", "", http.Header{"Authorization": {"Bearer garbage"}}, 401},
		{"bad since", "token=" + mint(t, "alice", "", time.Hour) + "&since=yesterday", nil, 400},
		{"bad device", "token=" + mint(t, "alice", "", time.Hour) + "&device=a%20b", nil, 400},
		{"disallowed origin", "token=" + mint(t, "alice", "", time.Hour), http.Header{"Origin": {"https://evil.example"}}, 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+n.Addr()+"/ws?"+tc.query, nil)
			for k, v := range tc.header {
				req.Header[k] = v
			}
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body struct{ Error string }
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil || body.Error == "" {
				t.Fatalf("body is not {\"error\":...}: %v", err)
			}
			if res.StatusCode != tc.status {
				t.Fatalf("status %d (%s), want %d", res.StatusCode, body.Error, tc.status)
			}
		})
	}
	// The allowed origin and a header token work.
	c, _, err := dial(t, n, "", http.Header{"Origin": {"https://app.example"}, "Authorization": {"Bearer " + mint(t, "alice", "", time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	if f := c.next(5 * time.Second); f.str("type") != "welcome" {
		t.Fatalf("got %v", f)
	}
}

func TestMalformedIngressEntriesAreDeadLettered(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{}, "--limits.max_payload_bytes", "100")
	c := connect(t, n, "alice", "")
	bad := []struct {
		reason string
		fields []any
	}{
		{"missing data", []any{"to", "alice"}},
		{"both to and topic", []any{"to", "alice", "topic", "news", "data", "1"}},
		{"neither to nor topic", []any{"data", "1"}},
		{"data is not JSON", []any{"to", "alice", "data", "{oops"}},
		{"payload too large", []any{"to", "alice", "data", `"` + strings.Repeat("x", 200) + `"`}},
		{"bad user id", []any{"to", "al ice", "data", "1"}},
		{"bad topic name", []any{"topic", "", "data", "1"}},
		{"bad from", []any{"to", "alice", "from", "a/b", "data", "1"}},
		{"bad ttl", []any{"to", "alice", "ttl", "-3", "data", "1"}},
	}
	xadd(t, n, "to", "alice", "data", `{"seq":0}`)
	for _, b := range bad {
		xadd(t, n, b.fields...)
	}
	xadd(t, n, "to", "alice", "data", `{"seq":1}`)
	got := c.pushes(2, 5*time.Second)
	if seqOf(t, got[0]) != 0 || seqOf(t, got[1]) != 1 {
		t.Fatalf("valid pushes around the bad ones: %v", got)
	}
	c.quiet(200 * time.Millisecond)

	ctx := context.Background()
	dlq, err := n.rdb.XRange(ctx, "herald:dlq", "-", "+").Result()
	if err != nil || len(dlq) != len(bad) {
		t.Fatalf("dead letters: %d (%v), want %d", len(dlq), err, len(bad))
	}
	for i, b := range bad {
		reason, _ := dlq[i].Values["reason"].(string)
		entry, _ := dlq[i].Values["entry"].(string)
		if !strings.Contains(reason, b.reason) {
			t.Errorf("dead letter %d reason %q, want it to say %q", i, reason, b.reason)
		}
		var orig map[string]any
		if json.Unmarshal([]byte(entry), &orig) != nil || orig[b.fields[0].(string)] != b.fields[1] {
			t.Errorf("dead letter %d entry %q does not hold the original fields %v", i, entry, b.fields)
		}
	}
	testkit.Eventually(t, 5*time.Second, func() error {
		p, err := n.rdb.XPending(ctx, "herald:in", "router").Result()
		if err != nil || p.Count != 0 {
			return errorf("pending %v %v", p, err)
		}
		return nil
	})
	if m := metricValue(t, n, "herald_dead_letters_total"); m != float64(len(bad)) {
		t.Fatalf("herald_dead_letters_total = %v", m)
	}
}

func TestGarbageFramesGetErrorFramesAndNothingElse(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{})
	c := connect(t, n, "alice", "")
	other := connect(t, n, "bob", "")
	garbage := []struct{ frame, code, ref string }{
		{`not json`, wire.CodeBadFrame, ""},
		{`[1,2]`, wire.CodeBadFrame, ""},
		{`{"type":"launch"}`, wire.CodeBadFrame, ""},
		{`{"no":"type"}`, wire.CodeBadFrame, ""},
		{`{"type":"ack"}`, wire.CodeBadFrame, ""},
		{`{"type":"ack","offset":"soon"}`, wire.CodeBadFrame, ""},
		{`{"type":"send","ref":"r1"}`, wire.CodeBadFrame, "r1"},
		{"\x00\xff\xfe", wire.CodeBadFrame, ""},
	}
	for _, g := range garbage {
		if err := c.conn.WriteString(g.frame); err != nil {
			t.Fatal(err)
		}
		f := c.next(5 * time.Second)
		if f.str("type") != "error" || f.str("code") != g.code || f.str("reason") == "" || f.str("ref") != g.ref {
			t.Fatalf("frame %q answered %v, want error %s ref %q", g.frame, f, g.code, g.ref)
		}
	}
	xadd(t, n, "to", "alice", "data", `{"seq":0}`)
	xadd(t, n, "to", "bob", "data", `{"seq":0}`)
	c.pushes(1, 5*time.Second)
	other.pushes(1, 5*time.Second)
}

func TestPanicInOneSessionClosesOnlyThatSession(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{onFrame: func(f wire.ClientFrame) {
		if f.Ref == "boom" {
			panic("test panic in session handling")
		}
	}})
	victim := connect(t, n, "alice", "")
	sibling := connect(t, n, "alice", "")
	other := connect(t, n, "bob", "")
	if err := victim.conn.WriteString(`{"type":"send","ref":"boom","data":1}`); err != nil {
		t.Fatal(err)
	}
	if code := victim.closeCode(5 * time.Second); code != wire.CloseInternal {
		t.Fatalf("close code %d, want 1011", code)
	}
	xadd(t, n, "to", "alice", "data", `{"seq":0}`)
	xadd(t, n, "to", "bob", "data", `{"seq":0}`)
	sibling.pushes(1, 5*time.Second)
	other.pushes(1, 5*time.Second)
	if m := metricValue(t, n, "herald_session_panics_total"); m != 1 {
		t.Fatalf("herald_session_panics_total = %v", m)
	}
	testkit.Eventually(t, 5*time.Second, func() error {
		if m := metricValue(t, n, "herald_sessions"); m != 2 {
			return errorf("herald_sessions = %v", m)
		}
		return nil
	})
}

// metricValue scrapes /metrics for an unlabelled metric, or the sum over labels.
func metricValue(t *testing.T, n *testNode, name string) float64 {
	t.Helper()
	res, err := http.Get("http://" + n.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		var v float64
		fields := strings.Fields(line)
		if _, err := fmtSscan(fields[len(fields)-1], &v); err == nil {
			sum += v
		}
	}
	return sum
}
