package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
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
