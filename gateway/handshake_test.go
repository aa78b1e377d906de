package gateway

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/wire"
)

// Every refusal of docs/PROTOCOL.md section 3 comes before the upgrade, with its
// status and a JSON reason, is counted by status, and opens no session.
func TestHandshakeRefusals(t *testing.T) {
	expired := mint(t, auth.Claims{User: "alice", Expiry: time.Now().Add(-time.Hour)})
	forged, err := auth.Mint([]byte("another secret"), auth.Claims{User: "alice", Expiry: time.Now().Add(time.Hour)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	good := mint(t, auth.Claims{User: "alice"})
	tests := []struct {
		name    string
		origins []string
		query   string
		hdr     http.Header
		status  int
		reason  string
	}{
		{name: "no token", status: 401, reason: "missing token"},
		{name: "empty bearer", hdr: http.Header{"Authorization": {"Bearer "}}, status: 401, reason: "missing token"},
		{name: "malformed token", query: "token=not.a.jwt", status: 401, reason: "malformed"},
		{name: "expired token", query: "token=" + expired, status: 401, reason: "expired"},
		{name: "expired token in the header", hdr: bearer(expired), status: 401, reason: "expired"},
		{name: "wrong signature", query: "token=" + forged, status: 401, reason: "bad signature"},
		{name: "bad since", query: "token=" + good + "&since=yesterday", status: 400, reason: "bad since"},
		{name: "bad device", query: "token=" + good + "&device=" + url.QueryEscape("my phone"), status: 400, reason: "bad device"},
		{name: "origin not allowed", origins: []string{"https://app.example.com"}, hdr: http.Header{"Origin": {"https://evil.example.com"}}, query: "token=" + good, status: 403, reason: "origin not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.AllowedOrigins = tt.origins
			sessions := newFakeSessions()
			s := startServer(t, cfg, Deps{Sessions: sessions})
			c, a := handshake(t, s.addr, "/ws?"+tt.query, tt.hdr)
			if c != nil {
				t.Fatal("upgraded")
			}
			wantJSONRefusal(t, a, tt.status, tt.reason)
			if n := value(t, s.metrics.Refused.WithLabelValues(strconv.Itoa(tt.status))); n != 1 {
				t.Errorf("herald_handshakes_refused_total{status=%d} = %v, want 1", tt.status, n)
			}
			sessions.none(t)
		})
	}
}

// A WebSocket client library sees the refusal as the HTTP status.
func TestHandshakeRefusalReachesAClientLibrary(t *testing.T) {
	s := startServer(t, testConfig(), Deps{})
	_, res, err := gws.NewClient(gws.BuiltinEventHandler{}, &gws.ClientOption{Addr: s.wsURL("/ws")})
	if err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dial without a token: %v, %v; want HTTP 401", err, res)
	}
	_ = res.Body.Close()
}

// The origin check: with an allow-list, an Origin on it (in any case) or no Origin
// at all (not a browser) passes; "*" allows any; without a list every origin does.
func TestHandshakeOrigins(t *testing.T) {
	tests := []struct {
		origins []string
		origin  string
		ok      bool
	}{
		{[]string{"https://app.example.com"}, "https://app.example.com", true},
		{[]string{"https://app.example.com"}, "HTTPS://APP.EXAMPLE.COM", true},
		{[]string{"https://app.example.com"}, "", true},
		{[]string{"https://app.example.com"}, "https://app.example.com.evil.net", false},
		{[]string{"https://a.example", "*"}, "https://anything.example", true},
		{nil, "https://anything.example", true},
	}
	tok := mint(t, auth.Claims{User: "alice"})
	for _, tt := range tests {
		cfg := testConfig()
		cfg.AllowedOrigins = tt.origins
		s := startServer(t, cfg, Deps{})
		hdr := bearer(tok)
		if tt.origin != "" {
			hdr.Set("Origin", tt.origin)
		}
		c, a := handshake(t, s.addr, "/ws", hdr)
		if (c != nil) != tt.ok {
			t.Errorf("allow-list %q, Origin %q: HTTP %d, want upgraded=%v", tt.origins, tt.origin, a.status, tt.ok)
		}
	}
}

// Over limits.handshakes_per_second from one address, handshakes get 429 with
// Retry-After: 1 before anything else is checked, and are counted.
func TestHandshakeRateLimit(t *testing.T) {
	cfg := testConfig()
	cfg.HandshakesPerIP = 1
	s := startServer(t, cfg, Deps{})
	statuses := map[int]int{}
	for i := range 20 {
		// No token: a handshake the limiter lets through is refused with 401 next.
		_, a := handshake(t, s.addr, "/ws", nil)
		statuses[a.status]++
		if i == 0 && a.status != http.StatusUnauthorized {
			t.Fatalf("first handshake: %d, want 401 (the bucket starts full)", a.status)
		}
		if a.status == http.StatusTooManyRequests {
			wantJSONRefusal(t, a, 429, "too many handshakes")
			if ra := a.header.Get("Retry-After"); ra != "1" {
				t.Errorf("Retry-After %q, want 1", ra)
			}
		}
	}
	limited := statuses[http.StatusTooManyRequests]
	if limited == 0 || limited+statuses[http.StatusUnauthorized] != 20 {
		t.Fatalf("20 handshakes at 1 a second: %v, want some 429s and 401s only", statuses)
	}
	if n := value(t, s.metrics.HandshakesLimited); n != float64(limited) {
		t.Errorf("herald_handshakes_limited_total = %v, want %d", n, limited)
	}
	if n := value(t, s.metrics.Refused.WithLabelValues("429")); n != float64(limited) {
		t.Errorf("herald_handshakes_refused_total{status=429} = %v, want %d", n, limited)
	}
}

// A good handshake hands the session layer the token's identity, the resume
// point, and a socket that writes to this client.
func TestHandshakeOpensTheSession(t *testing.T) {
	sessions := newFakeSessions()
	s := startServer(t, testConfig(), Deps{Sessions: sessions})
	exp := time.Now().Add(time.Hour)
	tok := mint(t, auth.Claims{User: "alice", Device: "phone-1", Topics: []string{"news", "room.1"}, Expiry: exp})
	c := dial(t, s.wsURL("/ws?since=1700000000000-5&device=ignored"), bearer(tok))
	o := sessions.next(t)
	want := actors.SessionSpec{
		ID: "n1-" + s.run + "-1", User: "alice", Device: "phone-1", Topics: []string{"news", "room.1"},
		Expiry: time.Unix(exp.Unix(), 0), Since: wire.Offset{Ms: 1700000000000, Seq: 5}, HasSince: true,
	}
	if !sameSpec(o.spec, want) {
		t.Fatalf("session spec %+v, want %+v (the token's device wins over ?device=)", o.spec, want)
	}
	if err := o.sock.WriteText([]byte(`{"type":"hello"}`)); err != nil {
		t.Fatal(err)
	}
	if m := c.next(t); m != `{"type":"hello"}` {
		t.Fatalf("client got %q", m)
	}

	// The token in the query, no device claim: ?device= names the device; no since.
	tok = mint(t, auth.Claims{User: "bob"})
	dial(t, s.wsURL("/ws?device=laptop&token="+tok), nil)
	o = sessions.next(t)
	if o.spec.User != "bob" || o.spec.Device != "laptop" || o.spec.HasSince || o.spec.ID != "n1-"+s.run+"-2" {
		t.Fatalf("second session spec %+v", o.spec)
	}
}

func sameSpec(a, b actors.SessionSpec) bool {
	return a.ID == b.ID && a.User == b.User && a.Device == b.Device && slices.Equal(a.Topics, b.Topics) &&
		a.Expiry.Equal(b.Expiry) && a.Since == b.Since && a.HasSince == b.HasSince
}

// Session ids stay unique across restarts of a node id: each Server has its own
// run, between the node id and the sequence number.
func TestSessionIDsDifferAcrossServers(t *testing.T) {
	a, b := New(testConfig(), Deps{Log: quietLog()}), New(testConfig(), Deps{Log: quietLog()})
	if a.run == b.run || a.run == "" || strings.Contains(a.run, "-") {
		t.Fatalf("runs %q and %q", a.run, b.run)
	}
}

// A node that no longer opens sessions (draining) closes the new connection right
// after the upgrade with 1001, and then closes it, whether or not the client
// answers the close frame.
func TestDrainingNodeClosesNewConnectionsWith1001(t *testing.T) {
	s := startServer(t, testConfig(), Deps{Sessions: &fakeSessions{err: actors.ErrStopped}})
	tok := mint(t, auth.Claims{User: "alice"})

	c := dial(t, s.wsURL("/ws"), bearer(tok))
	if ce := c.closeFrame(t); ce.Code != wire.CloseGoingAway || string(ce.Reason) != "node draining" {
		t.Fatalf("closed with %d %q, want 1001 node draining", ce.Code, ce.Reason)
	}

	raw := mustUpgrade(t, s.addr, "/ws", bearer(tok))
	if code, _ := parseClose(t, raw.mustRead(t, opClose)); code != wire.CloseGoingAway {
		t.Fatalf("close code %d, want 1001", code)
	}
	raw.waitEOF(t) // the client never answers: the node must not keep the connection
}
