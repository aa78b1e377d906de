package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func TestScrapeMetrics(t *testing.T) {
	srv := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "# HELP x\ngo_goroutines 12\nherald_dead_letters_total{reason=\"a\"} 2\nherald_dead_letters_total{reason=\"b\"} 3\n"+
			"h_bucket{le=\"1\"} 9\nh_sum 1.5\n")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	m, err := scrapeMetrics(context.Background(), "http://"+ln.Addr().String()+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if m["go_goroutines"] != 12 || m["herald_dead_letters_total"] != 5 || m["h_sum"] != 1.5 {
		t.Errorf("scraped %v", m)
	}
	if _, ok := m["h_bucket"]; ok {
		t.Error("buckets are skipped")
	}
}

// metricsServer answers every GET with status and body.
func metricsServer(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Labels are summed over, whatever they hold; lines without a number are skipped.
func TestScrapeMetricsLabelsAndJunk(t *testing.T) {
	url := metricsServer(t, http.StatusOK, strings.Join([]string{
		`a{path="/x y",code="200"} 1.5`,
		`a{path="}{"} 2.5 1700000000000`,
		`b 7`,
		`c`,
		`d{x="1"}`,
		`e NaNx`,
		`f 1e3`,
		``,
		`# TYPE g counter`,
	}, "\n"))
	m, err := scrapeMetrics(context.Background(), url+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"a": 4, "b": 7, "f": 1000}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("scraped %v, want %v", m, want)
	}
}

func TestScrapeMetricsErrors(t *testing.T) {
	url := metricsServer(t, http.StatusServiceUnavailable, "down")
	if _, err := scrapeMetrics(context.Background(), url); err == nil || !strings.Contains(err.Error(), "503 Service Unavailable") {
		t.Errorf("503: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := scrapeMetrics(context.Background(), "http://"+addr+"/metrics"); err == nil {
		t.Error("a closed port answered")
	}
	if err := get(context.Background(), "http://\x7f", func(io.Reader) error { return nil }); err == nil {
		t.Error("a bad URL was fetched")
	}
	// The reader's error is get's error.
	url = metricsServer(t, http.StatusOK, "{}")
	var v struct{ A int }
	if err := getJSON(context.Background(), url, &v); err != nil {
		t.Errorf("getJSON: %v", err)
	}
	if err := getJSON(context.Background(), metricsServer(t, http.StatusOK, "not json"), &v); err == nil {
		t.Error("getJSON decoded junk")
	}
}
