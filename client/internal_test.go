package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
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

// The backoff grows over consecutive failures only: a connection that got its
// welcome, or lasted stableAfter, starts it over; a drain and a 4001 after a
// working connection are no failures.
func TestFailuresCountConsecutiveFailures(t *testing.T) {
	c := &Client{cfg: Config{Backoff: Backoff{Min: time.Millisecond, Max: time.Hour}}}
	fails := 0
	step := func(o outcome, want int) time.Duration {
		t.Helper()
		d, retry := c.retryDelay(o, &fails)
		if !retry || fails != want {
			t.Fatalf("after %+v: retry %v, %d failures, want %d", o, retry, fails, want)
		}
		return d
	}
	dropped := &CloseError{Code: codeAbnormal}
	for i := 1; i <= 5; i++ {
		if d := step(outcome{err: errors.New("refused")}, i); d > time.Millisecond<<(i-1) {
			t.Fatalf("failure %d waited %v, over %v", i, d, time.Millisecond<<(i-1))
		}
	}
	step(outcome{err: &CloseError{Code: 1011}, welcomed: true}, 1)
	step(outcome{err: &CloseError{Code: codeGoingAway}}, 1)
	step(outcome{err: dropped, up: stableAfter + time.Second}, 1)
	if d := step(outcome{err: &CloseError{Code: codeTokenExpired}, up: 2 * time.Second}, 1); d != 0 {
		t.Fatalf("4001 after a working connection waited %v, want a reconnection at once", d)
	}
	step(outcome{err: &CloseError{Code: codeTokenExpired}}, 2) // expired at once: backoff
}

func TestAckScheduleSpacesFlushes(t *testing.T) {
	var a ackSchedule
	defer a.stop()
	flushes := 0
	flush := func() { flushes++ }
	a.kicked(flush) // the first ack after a quiet spell goes at once
	if flushes != 1 || a.due != nil {
		t.Fatalf("%d flushes, due %v; want one flush now", flushes, a.due)
	}
	a.last = time.Now().Add(time.Hour) // well inside ackEvery of the previous flush
	a.kicked(flush)
	a.kicked(flush)
	if flushes != 1 || a.due == nil {
		t.Fatalf("%d flushes, due %v; want one flush scheduled", flushes, a.due)
	}
	a.fired(flush)
	if flushes != 2 || a.due != nil {
		t.Fatalf("%d flushes after the scheduled one fired, want 2", flushes)
	}
}

func TestRestoreAcksKeepsTheNewest(t *testing.T) {
	c := &Client{topics: map[string]string{"news": "", "sport": ""}, ackTopics: map[string]string{"news": "9-0"}}
	c.ackUser = "7-0"
	c.restoreAcks("5-0", map[string]string{"news": "3-0", "sport": "4-0", "gone": "8-0"})
	if c.ackUser != "7-0" {
		t.Fatalf("user ack %s, want the newer pending 7-0", c.ackUser)
	}
	want := map[string]string{"news": "9-0", "sport": "4-0"} // gone was unsubscribed
	if fmt.Sprint(c.ackTopics) != fmt.Sprint(want) {
		t.Fatalf("topic acks %v, want %v", c.ackTopics, want)
	}
	c.ackUser = ""
	c.restoreAcks("5-0", nil)
	if c.ackUser != "5-0" {
		t.Fatalf("user ack %q, want the restored 5-0", c.ackUser)
	}
}

func TestHTTPErrorReason(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   string
	}{
		{401, `{"error":"token expired"}`, "token expired"},
		{403, "  origin not allowed\n", "origin not allowed"},
		{503, "", "Service Unavailable"},
		{400, `{"other":"x"}`, `{"other":"x"}`},
	} {
		resp := &http.Response{StatusCode: tc.status, Body: io.NopCloser(strings.NewReader(tc.body))}
		if e := httpError(resp); e.Status != tc.status || e.Reason != tc.want {
			t.Errorf("%d %q: %+v, want reason %q", tc.status, tc.body, e, tc.want)
		}
	}
}

func TestAttemptURL(t *testing.T) {
	c := &Client{cfg: Config{Device: "phone"}, lastOffset: "5-1"}
	u, err := c.attemptURL("wss://push.example.com/ws?tenant=a")
	if err != nil {
		t.Fatal(err)
	}
	if got := u.String(); got != "wss://push.example.com/ws?device=phone&since=5-1&tenant=a" {
		t.Fatalf("URL %s", got)
	}
	for raw, want := range map[string]string{
		"ws://h/ws":       "h:80",
		"wss://h/ws":      "h:443",
		"ws://h:8080/ws":  "h:8080",
		"wss://[::1]/ws":  "[::1]:443",
		"ws://[::1]:9/ws": "[::1]:9",
	} {
		u, _ := url.Parse(raw)
		if got := hostPort(u); got != want {
			t.Errorf("hostPort(%s) = %s, want %s", raw, got, want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	urls := []string{"ws://a/ws"}
	cfg, err := Config{URLs: urls, Token: func(context.Context) (string, error) { return "", nil },
		Backoff: Backoff{Min: time.Second, Max: time.Millisecond}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Backoff != (Backoff{Min: time.Second, Max: time.Second}) || cfg.DedupeWindow != defaultDedupeWindow ||
		cfg.PingInterval != defaultPingInterval || cfg.Dialer == nil {
		t.Fatalf("defaults %+v", cfg)
	}
	urls[0] = "ws://changed/ws"
	if cfg.URLs[0] != "ws://a/ws" {
		t.Fatal("the client shares the caller's URL slice")
	}
}

func TestOffsetsFromTheNode(t *testing.T) {
	for s, want := range map[string]bool{"1-0": true, "1700000000000-12": true, "17": true, "": false, "zzz": false, "1-x": false} {
		if validOffset(s) != want {
			t.Errorf("validOffset(%q) = %v", s, !want)
		}
	}
	if !offsetLess("17", "17-1") || offsetLess("17-0", "17") {
		t.Error("a bare <ms> is <ms>-0")
	}
	if dedupeKey(Push{To: "a", ID: "1"}) == dedupeKey(Push{Topic: "a", ID: "1"}) {
		t.Error("a user and a topic of one name share dedupe keys")
	}
}
