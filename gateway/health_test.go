package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// readyBody is the JSON of /readyz.
type readyBody struct {
	Status   string   `json:"status"`
	Error    string   `json:"error"`
	Warnings []string `json:"warnings"`
}

func getReady(t *testing.T, s *testServer) (int, readyBody) {
	t.Helper()
	a := request(t, "GET", s.url("/readyz"), nil, "")
	var b readyBody
	if err := json.Unmarshal([]byte(a.body), &b); err != nil {
		t.Fatalf("/readyz body %q: %v", a.body, err)
	}
	if a.header.Get("Cache-Control") != "no-store" {
		t.Errorf("/readyz may be cached: %v", a.header)
	}
	return a.status, b
}

// /healthz says the process answers, and nothing about Redis: it stays 200 while
// the node is not ready.
func TestHealthz(t *testing.T) {
	s := startServer(t, testConfig(), Deps{Ready: func(context.Context) error { return errors.New("redis unreachable") }})
	a := request(t, "GET", s.url("/healthz"), nil, "")
	if a.status != http.StatusOK || strings.TrimSpace(a.body) != `{"status":"ok"}` {
		t.Fatalf("/healthz: %d %s", a.status, a.body)
	}
}

// /readyz is 200 while Ready passes, 503 with its error when it fails; warnings
// are listed either way and never turn it red. Ready gets at most 2 s.
func TestReadyz(t *testing.T) {
	var fail error
	var warnings []string
	var deadline time.Duration
	s := startServer(t, testConfig(), Deps{
		Ready: func(ctx context.Context) error {
			if dl, ok := ctx.Deadline(); ok {
				deadline = time.Until(dl)
			}
			return fail
		},
		Warnings: func() []string { return warnings },
	})
	if status, b := getReady(t, s); status != 200 || b.Status != "ready" || b.Error != "" || b.Warnings != nil {
		t.Fatalf("ready node: %d %+v", status, b)
	}
	if deadline <= 0 || deadline > readyTimeout {
		t.Errorf("Ready's context: %v left, want a deadline within %v", deadline, readyTimeout)
	}
	warnings = []string{"maxmemory-policy is allkeys-lru: Redis may evict Herald's keys"}
	if status, b := getReady(t, s); status != 200 || b.Status != "ready" || !slices.Equal(b.Warnings, warnings) {
		t.Fatalf("ready node with a warning: %d %+v", status, b)
	}
	fail = errors.New("redis unreachable: dial tcp: connection refused")
	if status, b := getReady(t, s); status != 503 || b.Status != "unavailable" || b.Error != fail.Error() || !slices.Equal(b.Warnings, warnings) {
		t.Fatalf("node not ready: %d %+v", status, b)
	}
}

// /metrics is Deps.Scrape (absent without it), and the extra routes are mounted
// beside the gateway's own.
func TestMetricsAndExtraRoutes(t *testing.T) {
	s := startServer(t, testConfig(), Deps{})
	if a := request(t, "GET", s.url("/metrics"), nil, ""); a.status != http.StatusNotFound {
		t.Fatalf("/metrics without Scrape: %d", a.status)
	}

	reg := prometheus.NewRegistry()
	extra := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("extra")) })
	s = startServer(t, testConfig(), Deps{
		Metrics: NewMetrics(reg), Scrape: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Routes: map[string]http.Handler{"/herald.js": extra},
	})
	if a := request(t, "GET", s.url("/herald.js"), nil, ""); a.status != 200 || a.body != "extra" {
		t.Fatalf("extra route: %d %q", a.status, a.body)
	}
	a := request(t, "GET", s.url("/metrics"), nil, "")
	if a.status != 200 || !strings.Contains(a.body, `herald_handshakes_refused_total{status="401"} 0`) {
		t.Fatalf("/metrics: %d, without the refusal counters:\n%s", a.status, a.body)
	}
}
