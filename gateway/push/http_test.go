package push

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestRetryAfterReadsSecondsAndDates(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		"-3":                            0,
		"soon":                          0,
		"999999":                        maxRetryAfter,
		"Sat, 05 Dec 2026 10:00:30 GMT": 30 * time.Second,
	} {
		h := http.Header{}
		if v != "" {
			h.Set("Retry-After", v)
		}
		if got := retryAfter(h, now); got != want {
			t.Errorf("Retry-After %q: %v, want %v", v, got, want)
		}
	}
}

func TestTTLSeconds(t *testing.T) {
	for ttl, want := range map[time.Duration]string{0: "0", -time.Second: "0", 1500 * time.Millisecond: "1", time.Hour: "3600"} {
		if got := ttlSeconds(ttl); got != want {
			t.Errorf("%v: %q, want %q", ttl, got, want)
		}
	}
}

func TestRoundTripReadsABoundedAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(make([]byte, 4*maxResponseBody))
	}))
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
	r, err := roundTrip(context.Background(), srv.Client(), req)
	if err != nil || r.status != http.StatusBadRequest || len(r.body) != maxResponseBody {
		t.Fatalf("status %d, %d bytes, %v", r.status, len(r.body), err)
	}
	if s := snippet(r.body); len(s) > 210 {
		t.Fatalf("snippet of %d bytes", len(s))
	}
}

func TestACancelledSendIsRetryable(t *testing.T) {
	wp, srv := newWebPushPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := wp.Send(ctx, srv.NewSubscription(t), Notification{Payload: frame("1-0", "1")})
	var re *RetryableError
	if !errors.As(err, &re) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled send: %v, want retryable wrapping context.Canceled", err)
	}
}

func TestANetworkErrorDoesNotCarryTheEndpoint(t *testing.T) {
	wp, srv := newWebPushPair(t)
	sub := srv.NewSubscription(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	sub.Endpoint = dead.URL + "/push/secret-capability"
	err := wp.Send(context.Background(), sub, Notification{Payload: frame("1-0", "1")})
	if err == nil || strings.Contains(err.Error(), "secret-capability") {
		t.Fatalf("error %v shows the endpoint's path", err)
	}
}
