package client_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-push/herald/client"
	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/wire"
)

func TestReconnectResumesFromTheNewestOffset(t *testing.T) {
	n := startFakeNode(t)
	rec := &recorder{}
	cfg := rec.fakeConfig(t, n.url())
	cfg.Device = "phone"
	c, conn := dialFake(t, n, cfg, "5-0")
	if conn.since() != "" || conn.req.URL.Query().Get("device") != "phone" {
		t.Fatalf("first connection %s, want no since and device=phone", conn.req.URL.RawQuery)
	}
	if !strings.HasPrefix(conn.req.Header.Get("Authorization"), "Bearer ey") {
		t.Fatalf("Authorization %q, want the token as a bearer", conn.req.Header.Get("Authorization"))
	}
	conn.send(t,
		pushFrame(wire.User("alice"), "m1", "6-0", 1),
		pushFrame(wire.User("alice"), "m2", "10-0", 2),
		pushFrame(wire.Topic("other"), "m9", "99-0", 3), // a topic's offset is not the user stream's
	)
	rec.waitNs(t, 3)
	if got := c.LastOffset(); got != "10-0" {
		t.Fatalf("LastOffset %q, want 10-0", got)
	}

	conn.drop()
	conn2 := n.accept(t)
	if conn2.since() != "10-0" || conn2.req.URL.Query().Get("device") != "phone" {
		t.Fatalf("reconnection %s, want since=10-0 and device=phone", conn2.req.URL.RawQuery)
	}
	// The node replays from history: the push already seen is dropped by id. A
	// welcome does not move a resume point the client already has.
	conn2.welcome(t, "s-2", "1-0")
	conn2.send(t, pushFrame(wire.User("alice"), "m2", "10-0", 2), pushFrame(wire.User("alice"), "m4", "11-0", 4))
	rec.waitNs(t, 4)
	if got := c.LastOffset(); got != "11-0" {
		t.Fatalf("LastOffset %q, want 11-0", got)
	}
	if id, node := c.Session(); id != "s-2" || node != "fake" {
		t.Fatalf("Session() = %q, %q, want the newest welcome's", id, node)
	}
	var ce *client.CloseError
	if err := rec.waitState(t, client.Disconnected, 1); !errors.As(err, &ce) || ce.Code != 1006 {
		t.Fatalf("disconnected with %v, want a *CloseError 1006", err)
	}
	if got := rec.tokens.Load(); got != 2 {
		t.Fatalf("Token called %d times, want once per connection", got)
	}
}

// Before any push, the welcome's offset is where the session started: a client
// that drops then resumes from it, so that what was published meanwhile arrives.
func TestReconnectBeforeAnyPushResumesFromTheWelcome(t *testing.T) {
	n := startFakeNode(t)
	rec := &recorder{}
	c, conn := dialFake(t, n, rec.fakeConfig(t, n.url()), "5-0")
	if got := c.LastOffset(); got != "5-0" {
		t.Fatalf("LastOffset %q, want the welcome's 5-0", got)
	}
	conn.closeWith(t, wire.CloseInternal, "panic")
	if conn2 := n.accept(t); conn2.since() != "5-0" {
		t.Fatalf("reconnected with since=%q, want 5-0", conn2.since())
	}
}

func TestReconnectGoesRoundTheURLs(t *testing.T) {
	a, b := startFakeNode(t), startFakeNode(t)
	rec := &recorder{}
	_, conn := dialFake(t, a, rec.fakeConfig(t, a.url(), b.url()), "1-0")
	conn.drop()
	conn = b.accept(t)
	conn.welcome(t, "s-2", "1-0")
	conn.drop()
	a.accept(t)
}

// A node that refuses with a status retrying can fix (503, 429) is retried with
// backoff until it accepts; the failures are reported as Disconnected.
func TestRetriesRefusalsUntilTheNodeAccepts(t *testing.T) {
	n := startFakeNode(t)
	var refusals atomic.Int32 // the attempts come one after another, on the server's goroutines
	n.setRefuse(func(*http.Request) (int, string) {
		switch refusals.Add(1) {
		case 1, 2, 3:
			return http.StatusServiceUnavailable, `{"error":"draining"}`
		case 4:
			return http.StatusTooManyRequests, "slow down"
		}
		return 0, ""
	})
	rec := &recorder{}
	dialFake(t, n, rec.fakeConfig(t, n.url()), "1-0")
	if got := n.attempts.Load(); got != 5 {
		t.Fatalf("%d attempts, want 5", got)
	}
	for i, want := range []int{503, 503, 503, 429} {
		var he *client.HTTPError
		if err := rec.waitState(t, client.Disconnected, i+1); !errors.As(err, &he) || he.Status != want {
			t.Fatalf("disconnect %d: %v, want HTTP %d", i+1, err, want)
		}
	}
	if rec.count(client.Closed) != 0 || rec.count(client.Connected) != 1 {
		t.Fatalf("states %s", rec.stateLog())
	}
}

func TestPermanentRefusalStopsDial(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusBadRequest} {
		n := startFakeNode(t)
		n.setRefuse(func(*http.Request) (int, string) { return status, `{"error":"token expired"}` })
		rec := &recorder{}
		_, err := client.Dial(dialContext(t), rec.fakeConfig(t, n.url()))
		var he *client.HTTPError
		if !errors.As(err, &he) || he.Status != status || he.Reason != "token expired" {
			t.Fatalf("HTTP %d: Dial = %v, want an *HTTPError with the JSON reason", status, err)
		}
		if got := n.attempts.Load(); got != 1 {
			t.Fatalf("HTTP %d: %d attempts, want 1", status, got)
		}
	}
}

// An answer that is not a WebSocket upgrade (a proxy's page) is reported with its
// status and body, and retried: it is not a refusal.
func TestNonWebSocketAnswerIsRetried(t *testing.T) {
	n := startFakeNode(t)
	var answered atomic.Bool
	n.setRefuse(func(*http.Request) (int, string) {
		if !answered.Swap(true) {
			return http.StatusOK, "<html>hello</html>"
		}
		return 0, ""
	})
	rec := &recorder{}
	dialFake(t, n, rec.fakeConfig(t, n.url()), "1-0")
	var he *client.HTTPError
	if err := rec.waitState(t, client.Disconnected, 1); !errors.As(err, &he) || he.Status != http.StatusOK || !strings.Contains(he.Reason, "hello") {
		t.Fatalf("disconnected with %v, want an *HTTPError 200 with the body", err)
	}
}

func TestTokenErrorIsRetried(t *testing.T) {
	n := startFakeNode(t)
	rec := &recorder{}
	cfg := rec.fakeConfig(t, n.url())
	mintOK := cfg.Token
	errVault := errors.New("vault unreachable")
	cfg.Token = func(ctx context.Context) (string, error) {
		if rec.tokens.Load() == 0 {
			rec.tokens.Add(1)
			return "", errVault
		}
		return mintOK(ctx)
	}
	dialFake(t, n, cfg, "1-0")
	if err := rec.waitState(t, client.Disconnected, 1); !errors.Is(err, errVault) {
		t.Fatalf("disconnected with %v, want the token error", err)
	}
	if got := n.attempts.Load(); got != 1 {
		t.Fatalf("%d upgrade requests, want none without a token", got)
	}
}

// What the client does on each close code of docs/PROTOCOL.md section 6.
func TestCloseCodes(t *testing.T) {
	for _, tc := range []struct {
		code      uint16
		reconnect bool
	}{
		{wire.CloseGoingAway, true},
		{wire.CloseInternal, true},
		{wire.CloseTokenExpired, true},
		{wire.ClosePolicy, false},
		{wire.CloseSlowConsumer, true},
		{wire.CloseTooManySessions, false},
		{wire.CloseServiceRestart, true},
		{wire.CloseDisconnected, false},
		{4999, true}, // a code this client does not know
	} {
		t.Run(strconv.Itoa(int(tc.code)), func(t *testing.T) {
			n := startFakeNode(t)
			rec := &recorder{}
			c, conn := dialFake(t, n, rec.fakeConfig(t, n.url()), "5-0")
			conn.closeWith(t, tc.code, "bye")
			if !tc.reconnect {
				checkStopped(t, c, n, rec, tc.code)
				return
			}
			conn2 := n.accept(t)
			if conn2.since() != "5-0" {
				t.Fatalf("reconnected with since=%q, want 5-0", conn2.since())
			}
			var ce *client.CloseError
			if err := rec.waitState(t, client.Disconnected, 1); !errors.As(err, &ce) || ce.Code != tc.code || ce.Reason != "bye" {
				t.Fatalf("disconnected with %v, want a *CloseError %d: bye", err, tc.code)
			}
			if got := rec.tokens.Load(); got != 2 {
				t.Fatalf("Token called %d times, want a fresh token for the reconnection", got)
			}
		})
	}
}

// 1012 (the operator asked for a reconnection) reconnects at once, whatever the
// backoff; 4010 (disconnected by the operator) stops with ErrDisconnected.
func TestOperatorCloseCodes(t *testing.T) {
	n := startFakeNode(t)
	rec := &recorder{}
	cfg := rec.fakeConfig(t, n.url())
	cfg.Backoff = client.Backoff{Min: time.Hour, Max: time.Hour}
	c, conn := dialFake(t, n, cfg, "5-0")
	conn.closeWith(t, wire.CloseServiceRestart, "rebalancing")
	conn2 := n.accept(t) // an hour of backoff would time this out
	if conn2.since() != "5-0" {
		t.Fatalf("reconnected with since=%q, want 5-0", conn2.since())
	}
	conn2.welcome(t, "s-2", "5-0")
	conn2.closeWith(t, wire.CloseDisconnected, "banned")
	err := rec.waitState(t, client.Closed, 1)
	if !errors.Is(err, client.ErrDisconnected) {
		t.Fatalf("closed with %v, want ErrDisconnected", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkStopped checks that a client closed with code stopped for good: Closed
// with the code, no other attempt, and its methods answer ErrClosed.
func checkStopped(t *testing.T, c *client.Client, n *fakeNode, rec *recorder, code uint16) {
	t.Helper()
	var ce *client.CloseError
	if err := rec.waitState(t, client.Closed, 1); !errors.As(err, &ce) || ce.Code != code {
		t.Fatalf("closed with %v, want a *CloseError %d", err, code)
	}
	// Closed is the run goroutine's last report: no attempt can follow it.
	if got := n.attempts.Load(); got != 1 || rec.count(client.Disconnected) != 0 {
		t.Fatalf("%d attempts, states %s; want the client stopped", got, rec.stateLog())
	}
	for name, err := range map[string]error{
		"Send":        c.Send("r1", 1),
		"Subscribe":   c.Subscribe("news", ""),
		"Unsubscribe": c.Unsubscribe("news"),
		"Ack":         c.Ack("5-0"),
	} {
		if !errors.Is(err, client.ErrClosed) {
			t.Errorf("%s on a stopped client: %v, want ErrClosed", name, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// 4009 comes before any welcome: Dial returns it instead of retrying.
func TestTooManySessionsStopsDial(t *testing.T) {
	for _, code := range []uint16{wire.CloseTooManySessions, wire.ClosePolicy} {
		n := startFakeNode(t)
		rec := &recorder{}
		done := make(chan error, 1)
		go func() {
			_, err := client.Dial(dialContext(t), rec.fakeConfig(t, n.url()))
			done <- err
		}()
		n.accept(t).closeWith(t, code, "too many sessions")
		var ce *client.CloseError
		if err := <-done; !errors.As(err, &ce) || ce.Code != code {
			t.Fatalf("Dial = %v, want a *CloseError %d", err, code)
		}
		if got := n.attempts.Load(); got != 1 {
			t.Fatalf("%d attempts, want 1", got)
		}
	}
}

// After a 4001 the client asks for a new token before it reconnects, even when
// the node expires the new ones at once too (then with backoff).
func TestTokenExpiredFetchesANewTokenEachTime(t *testing.T) {
	n := startFakeNode(t)
	rec := &recorder{}
	_, conn := dialFake(t, n, rec.fakeConfig(t, n.url()), "1-0")
	for i := 2; i <= 4; i++ {
		conn.closeWith(t, wire.CloseTokenExpired, "token expired")
		conn = n.accept(t)
		if got := rec.tokens.Load(); got != int32(i) {
			t.Fatalf("connection %d with %d tokens, want one per connection", i, got)
		}
		conn.welcome(t, "s", "1-0")
	}
	if rec.count(client.Closed) != 0 {
		t.Fatalf("states %s", rec.stateLog())
	}
}

// A connection on which nothing arrives (a node that hangs, a dead link TCP has
// not noticed) is replaced after three ping intervals.
func TestSilentNodeIsReplaced(t *testing.T) {
	n := startFakeNode(t)
	rec := &recorder{}
	cfg := rec.fakeConfig(t, n.url())
	cfg.PingInterval = 20 * time.Millisecond
	_, conn := dialFake(t, n, cfg, "1-0")
	conn.silent.Store(true)
	conn2 := n.accept(t)
	if conn.pings.Load() == 0 {
		t.Fatal("the client replaced a connection it never pinged")
	}
	var ce *client.CloseError
	if err := rec.waitState(t, client.Disconnected, 1); !errors.As(err, &ce) || ce.Code != 1006 || !strings.Contains(ce.Reason, "nothing from the node") {
		t.Fatalf("disconnected with %v, want 1006: nothing from the node", err)
	}
	// A node that answers pings keeps its connection.
	conn2.welcome(t, "s-2", "1-0")
	testkit.Eventually(t, 5*time.Second, func() error {
		if conn2.pings.Load() < 5 {
			return errors.New("fewer than 5 pings")
		}
		return nil
	})
	if got := rec.count(client.Disconnected); got != 1 {
		t.Fatalf("states %s, want the answering connection kept", rec.stateLog())
	}
}

func TestCloseSendsNormalClosureAndStops(t *testing.T) {
	n := startFakeNode(t)
	rec := &recorder{}
	c, conn := dialFake(t, n, rec.fakeConfig(t, n.url()), "1-0")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if ce := conn.waitClosed(t); ce == nil || ce.Code != 1000 {
		t.Fatalf("the node saw %v, want close code 1000", conn.closeErr)
	}
	states := rec.stateLog()
	if !strings.HasSuffix(states, "closed(<nil>) ") || rec.count(client.Disconnected) != 0 {
		t.Fatalf("states %s, want Closed(nil) last and no Disconnected", states)
	}
	if got := n.attempts.Load(); got != 1 {
		t.Fatalf("%d attempts after Close", got)
	}
}

func TestConfigErrorsFailDialAtOnce(t *testing.T) {
	tok := func(context.Context) (string, error) { return "t", nil }
	for name, cfg := range map[string]client.Config{
		"no URLs":    {Token: tok},
		"bad scheme": {URLs: []string{"http://127.0.0.1:1/ws"}, Token: tok},
		"bad URL":    {URLs: []string{"ws://[::1"}, Token: tok},
		"no token":   {URLs: []string{"ws://127.0.0.1:1/ws"}},
	} {
		if c, err := client.Dial(dialContext(t), cfg); err == nil || c != nil {
			t.Errorf("%s: Dial = %v, %v; want an error", name, c, err)
		}
	}
}

func TestErrorTexts(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&client.CloseError{Code: 4008}, "herald client: connection closed with code 4008"},
		{&client.CloseError{Code: 1001, Reason: "draining"}, "herald client: connection closed with code 1001: draining"},
		{&client.HTTPError{Status: 401, Reason: "bad token"}, "herald client: upgrade refused with HTTP 401: bad token"},
		{client.ServerError{Code: "forbidden", Reason: "no", Topic: "news"}, "herald: forbidden: no (topic news)"},
		{client.ServerError{Code: "unavailable", Reason: "redis", Ref: "r1"}, "herald: unavailable: redis (ref r1)"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%q, want %q", got, tc.want)
		}
	}
	var names []string
	for s := client.Connecting; s <= client.Closed+1; s++ {
		names = append(names, s.String())
	}
	if want := []string{"connecting", "connected", "disconnected", "closed", "State(5)"}; !slices.Equal(names, want) {
		t.Errorf("State names %v, want %v", names, want)
	}
}

// dialContext bounds a Dial that a broken client would retry forever.
func dialContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
