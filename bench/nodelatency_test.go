package bench

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"testing"
)

// The nodes' histograms are read per node and differenced over the run; a node that
// did not answer afterwards (a killed one) is left out of both ends.
func TestNodeLatenciesFromHistogramBuckets(t *testing.T) {
	body := "# TYPE herald_route_lag_seconds histogram\n" +
		"herald_route_lag_seconds_bucket{le=\"0.01\"} 90\nherald_route_lag_seconds_bucket{le=\"0.025\"} 99\n" +
		"herald_route_lag_seconds_bucket{le=\"0.05\"} 100\nherald_route_lag_seconds_bucket{le=\"+Inf\"} 100\n" +
		"herald_route_lag_seconds_sum 1\nother_bucket{le=\"1\"} 5\n"
	srv := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body) })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	m, err := scrapeHistograms(context.Background(), "http://"+ln.Addr().String()+"/metrics", []string{"herald_route_lag_seconds"})
	if err != nil {
		t.Fatal(err)
	}
	after := m["herald_route_lag_seconds"]
	if after[0.01] != 90 || after[0.05] != 100 || after[math.Inf(1)] != 100 || len(m) != 1 {
		t.Fatalf("scraped %v", m)
	}
	before := map[string]bucketCounts{"herald_route_lag_seconds": {0.01: 40, 0.025: 49, 0.05: 50, math.Inf(1): 50}}
	killed := map[string]bucketCounts{"herald_route_lag_seconds": {0.01: 1000, math.Inf(1): 1000}}
	sr := &ScenarioResult{}
	addNodeLatencies(sr, []map[string]bucketCounts{before, killed}, []map[string]bucketCounts{m, nil})
	// 50 pushes in the run, all within 10 ms; the second node counts on neither end.
	if got := fig(t, sr, "node_routed_within_10ms_pct"); got != 100 {
		t.Errorf("within 10 ms: %v%%, want 100 (50 of 50)", got)
	}
	if got := fig(t, sr, "node_routed_p99_bound_ms"); got != 10 {
		t.Errorf("p99 bound %v ms, want 10", got)
	}
	before["herald_route_lag_seconds"][0.01] = 80 // now 10 of 50 within 10 ms, all 50 within 25
	sr = &ScenarioResult{}
	addNodeLatencies(sr, []map[string]bucketCounts{before}, []map[string]bucketCounts{m})
	if got := fig(t, sr, "node_routed_within_10ms_pct"); got != 20 {
		t.Errorf("within 10 ms: %v%%, want 20", got)
	}
	if got := fig(t, sr, "node_routed_p99_bound_ms"); got != 25 {
		t.Errorf("p99 bound %v ms, want 25", got)
	}
}
