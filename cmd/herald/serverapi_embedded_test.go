package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/testkit"
)

// The server API on the embedded store, with the dev key: every operation
// answers, and the node's control stream reader applies what it appends
// (miniredis has the commands it needs: XREAD BLOCK, ZADD GT, the scripts).
func TestEmbeddedServerAPI(t *testing.T) {
	e := startEmbedded(t)
	call := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+e.state.HTTPAddr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.state.APIKey)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(bytes.TrimSpace(b))
	}
	e.publish(t, "--to", "alice", `{"n":1}`)
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/v1/disconnect", `{"user":"alice","reconnect":true}`, http.StatusAccepted},
		{"POST", "/v1/revoke", `{"jti":"j1"}`, http.StatusAccepted},
		{"POST", "/v1/revoke", `{"user":"bob","issued_before":1700000000}`, http.StatusAccepted},
		{"GET", "/v1/presence?user=alice", "", http.StatusOK},
		{"POST", "/v1/presence", `{"users":["alice"]}`, http.StatusOK},
		{"GET", "/v1/stats", "", http.StatusOK},
		{"GET", "/v1/topics/news", "", http.StatusOK},
		{"GET", "/v1/history?user=alice&since=1-0", "", http.StatusOK},
	} {
		if status, body := call(tc.method, tc.path, tc.body); status != tc.status {
			t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, status, body, tc.status)
		}
	}
	testkit.Eventually(t, 5*time.Second, func() error {
		m := scrape(t, e.state.HTTPAddr)
		if !strings.Contains(m, `herald_control_entries_total{op="revoke",outcome="applied"} 2`) ||
			!strings.Contains(m, `herald_control_entries_total{op="disconnect",outcome="applied"} 1`) ||
			!strings.Contains(m, "herald_revocations 2") {
			return fmt.Errorf("control entries not applied yet")
		}
		if errs := nonZero(m, "herald_redis_errors_total"); errs != "" {
			return fmt.Errorf("redis errors on the embedded store: %s", errs)
		}
		return nil
	})
	_, body := call("GET", "/v1/history?user=alice", "")
	var h struct {
		Pushes   []map[string]any `json:"pushes"`
		Complete bool             `json:"complete"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil || len(h.Pushes) != 1 || !h.Complete {
		t.Fatalf("history %s (%v)", body, err)
	}
}

// scrape reads /metrics of addr.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// nonZero lists the lines of metric prefix whose value is not 0.
func nonZero(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) && !strings.HasSuffix(l, " 0") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
