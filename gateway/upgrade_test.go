package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/herald-push/herald/gateway/auth"
)

// A request to /ws that is no WebSocket upgrade (a browser opening the URL, curl)
// is told so, before the token is asked for, in a JSON reason that does not escape
// the "<" and ">" of its hints.
func TestPlainRequestsToWSAreToldToUpgrade(t *testing.T) {
	tok := "token=" + mint(t, auth.Claims{User: "alice"})
	upgrade := http.Header{"Connection": {"keep-alive, Upgrade"}, "Upgrade": {"websocket"}}
	tests := []struct {
		name   string
		method string
		query  string
		hdr    http.Header
		status int
		reason string
		header [2]string // a header the answer must carry
	}{
		{"plain GET", "GET", "", nil, 426, "this endpoint expects a WebSocket upgrade", [2]string{"Upgrade", "websocket"}},
		{"plain GET with a token", "GET", tok, nil, 426, "this endpoint expects a WebSocket upgrade", [2]string{"Upgrade", "websocket"}},
		{"POST", "POST", tok, nil, 405, "this endpoint expects a WebSocket upgrade", [2]string{"Allow", "GET"}},
		{"old version", "GET", tok, with(upgrade, "Sec-WebSocket-Version", "8"), 426, "version 13", [2]string{"Sec-WebSocket-Version", "13"}},
		{"no key", "GET", tok, with(upgrade, "Sec-WebSocket-Version", "13"), 400, "Sec-WebSocket-Key is missing", [2]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sessions := newFakeSessions()
			s := startServer(t, testConfig(), Deps{Sessions: sessions})
			a := request(t, tt.method, "http://"+s.addr+"/ws?"+tt.query, tt.hdr, "")
			wantJSONRefusal(t, a, tt.status, tt.reason)
			if k := tt.header[0]; k != "" && a.header.Get(k) != tt.header[1] {
				t.Errorf("header %s %q, want %q", k, a.header.Get(k), tt.header[1])
			}
			if n := value(t, s.metrics.Refused.WithLabelValues(strconv.Itoa(tt.status))); n != 1 {
				t.Errorf("herald_handshakes_refused_total{status=%d} = %v, want 1", tt.status, n)
			}
			sessions.none(t)
		})
	}
}

// JSON answers keep "<" and ">" as they are: they are read by people and JSON
// parsers, never rendered as HTML.
func TestJSONReasonsAreNotHTMLEscaped(t *testing.T) {
	s := startServer(t, testConfig(), Deps{})
	_, ans := handshake(t, s.addr, "/ws", nil)
	if !strings.Contains(ans.body, "Bearer <jwt>") || strings.Contains(ans.body, `\u003c`) {
		t.Fatalf("body %s, want the hint with < and > unescaped", ans.body)
	}
}

// with is h plus one header.
func with(h http.Header, k, v string) http.Header {
	h = h.Clone()
	h.Set(k, v)
	return h
}
