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

func TestParseBucketLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		name string
		le   float64
		v    float64
		ok   bool
	}{
		{`h_bucket{le="0.005"} 12`, "h", 0.005, 12, true},
		{`h_bucket{node="n1",le="1"} 3 1700000000`, "h", 1, 3, true},
		{`h_bucket{le="+Inf"} 99`, "h", math.Inf(1), 99, true},
		{`h_sum 4`, "", 0, 0, false},
		{`h_bucket{x="1"} 4`, "", 0, 0, false},
		{`h_bucket{le="abc"} 4`, "", 0, 0, false},
		{`h_bucket{le="1} 4`, "", 0, 0, false},
		{`h_bucket{le="1"`, "", 0, 0, false},
		{`h_bucket{le="1"} `, "", 0, 0, false},
		{`h_bucket{le="1"} x`, "h", 1, 0, false},
	} {
		name, le, v, ok := parseBucketLine(tc.line)
		if ok != tc.ok || ok && (name != tc.name || le != tc.le || v != tc.v) {
			t.Errorf("parseBucketLine(%q) = %q %v %v %v", tc.line, name, le, v, ok)
		}
	}
}

func TestQuantileBound(t *testing.T) {
	b := bucketCounts{0.001: 10, 0.01: 90, 0.1: 99, 1: 100, math.Inf(1): 100}
	for q, want := range map[float64]float64{0.05: 0.001, 0.5: 0.01, 0.9: 0.01, 0.99: 0.1, 1: 1} {
		if got, ok := quantileBound(b, q); !ok || got != want {
			t.Errorf("quantileBound(%v) = %v, %v; want %v", q, got, ok, want)
		}
	}
	// Pushes above every finite bound: no finite bound holds the quantile.
	if _, ok := quantileBound(bucketCounts{0.01: 5, math.Inf(1): 100}, 0.99); ok {
		t.Error("a bound for a quantile above every finite bucket")
	}
}

// Nodes that saw no push in the run add no figure.
func TestAddNodeLatenciesWithoutPushes(t *testing.T) {
	same := map[string]bucketCounts{"herald_delivery_latency_seconds": {0.005: 5, 0.01: 5, 0.025: 5, math.Inf(1): 5}}
	sr := &ScenarioResult{}
	addNodeLatencies(sr, []map[string]bucketCounts{same}, []map[string]bucketCounts{same})
	addNodeLatencies(sr, nil, []map[string]bucketCounts{same})
	if len(sr.Figures) != 0 {
		t.Errorf("figures %+v", sr.Figures)
	}
	after := map[string]bucketCounts{"herald_delivery_latency_seconds": {0.005: 15, 0.01: 15, 0.025: 25, math.Inf(1): 25}}
	addNodeLatencies(sr, []map[string]bucketCounts{same}, []map[string]bucketCounts{after})
	for key, want := range map[string]float64{"node_written_within_10ms_pct": 50, "node_written_within_25ms_pct": 100, "node_written_p99_bound_ms": 25} {
		if v, ok := sr.Figure(key); !ok || !near(v, want, 1e-12) {
			t.Errorf("%s = %v, want %v", key, v, want)
		}
	}
}
