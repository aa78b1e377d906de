package client

import (
	"testing"
	"time"
)

func TestDedupeForgetsOldestFirst(t *testing.T) {
	d := newDedupe(3)
	for _, k := range []string{"a", "b", "c"} {
		if !d.add(k) {
			t.Fatalf("%s not new", k)
		}
	}
	if d.add("a") || d.add("c") {
		t.Fatal("a remembered id was new")
	}
	if !d.add("d") { // forgets a
		t.Fatal("d not new")
	}
	if !d.add("a") { // forgets b
		t.Fatal("a still remembered after 3 newer ids")
	}
	if d.add("c") || d.add("d") {
		t.Fatal("c or d forgotten too early")
	}
	if len(d.set) != 3 {
		t.Fatalf("set holds %d ids, want 3", len(d.set))
	}
	var off *dedupe                                                   // DedupeWindow < 0
	if first, again := off.add("a"), off.add("a"); !first || !again { // a disabled dedupe lets a repeat through
		t.Fatal("disabled dedupe dropped an id")
	}
}

func TestOffsetLess(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"", "1-0", true},
		{"1-0", "", false},
		{"", "", false},
		{"9-0", "10-0", true}, // numeric, not text order
		{"10-0", "9-5", false},
		{"5-2", "5-10", true},
		{"5-10", "5-10", false},
	} {
		if got := offsetLess(c.a, c.b); got != c.want {
			t.Errorf("offsetLess(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	c := &Client{cfg: Config{Backoff: Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}}}
	for n := range 80 {
		ceil := min(5*time.Second, 100*time.Millisecond<<min(n, 6))
		for range 50 {
			if d := c.backoff(n); d < 0 || d > ceil {
				t.Fatalf("backoff(%d) = %v, want in [0, %v]", n, d, ceil)
			}
		}
	}
	fails := 0
	for range 50 {
		d, retry := c.retryDelay(outcome{err: &CloseError{Code: codeGoingAway}}, &fails)
		if !retry || d < 0 || d > 5*time.Second {
			t.Fatalf("1001: %v %v", d, retry)
		}
	}
	if fails != 0 {
		t.Fatalf("a drain counted as a failure")
	}
	for _, code := range []uint16{codePolicy, codeTooManySessions} {
		if _, retry := c.retryDelay(outcome{err: &CloseError{Code: code}}, &fails); retry {
			t.Fatalf("%d retried", code)
		}
	}
	for _, st := range []int{400, 401, 403, 404} {
		if _, retry := c.retryDelay(outcome{err: &HTTPError{Status: st}}, &fails); retry {
			t.Fatalf("HTTP %d retried", st)
		}
	}
	for _, st := range []int{408, 429, 500, 503} {
		if _, retry := c.retryDelay(outcome{err: &HTTPError{Status: st}}, &fails); !retry {
			t.Fatalf("HTTP %d not retried", st)
		}
	}
	if d, _ := c.retryDelay(outcome{err: &CloseError{Code: codeTokenExpired}, up: 2 * time.Second}, &fails); d != 0 {
		t.Fatalf("4001 waited %v", d)
	}
}

// Connections opened together spread their pings over the second half of the
// interval instead of pinging together forever.
func TestFirstPingSpreadsOverTheSecondHalfOfTheInterval(t *testing.T) {
	const interval = 15 * time.Second
	lo, hi := interval, time.Duration(0)
	for range 1000 {
		d := firstPing(interval)
		if d < interval/2 || d > interval {
			t.Fatalf("first ping after %v, want within [%v, %v]", d, interval/2, interval)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	if hi-lo < interval/4 {
		t.Fatalf("1000 first pings all within %v..%v: not spread", lo, hi)
	}
}
