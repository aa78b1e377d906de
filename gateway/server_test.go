package gateway

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"

	"github.com/herald-push/herald/gateway/auth"
)

// Shutdown stops accepting and makes Serve return nil, and leaves the WebSocket
// sessions alone: they are the actors' to drain. A second Shutdown is a no-op.
func TestShutdownLeavesSessionsOpen(t *testing.T) {
	sessions := newFakeSessions()
	s := startServer(t, testConfig(), Deps{Sessions: sessions})
	c := dial(t, s.wsURL("/ws"), bearer(mint(t, auth.Claims{User: "alice"})))
	sock := sessions.next(t).sock

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.served:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
	if s.serveErr != nil {
		t.Fatalf("Serve after Shutdown: %v, want nil", s.serveErr)
	}
	if conn, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
		_ = conn.Close()
		t.Fatal("a connection was accepted after Shutdown")
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := sock.WriteText([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	if m := c.next(t); m != "still here" {
		t.Fatalf("client got %q", m)
	}
}

// A connection that closes before a whole request arrived (half a request, or
// none, cut by gateway.handshake_timeout) counts as a slow handshake; served and
// upgraded connections do not, and no connection stays tracked.
func TestSlowHandshakesAreCounted(t *testing.T) {
	cfg := testConfig()
	cfg.HandshakeTimeout = 200 * time.Millisecond
	s := startServer(t, cfg, Deps{})
	slow := func(first string) {
		conn, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte(first)); err != nil {
			t.Fatal(err)
		}
		(&rawClient{Conn: conn, br: bufio.NewReader(conn)}).waitEOF(t) // cut by the server
	}
	slow("GET /ws HTTP/1.1\r\nHost: herald\r\n")
	slow("")
	waitFor(t, "two slow handshakes counted", func() bool { return value(t, s.metrics.SlowHandshakes) == 2 })

	request(t, "GET", s.url("/healthz"), nil, "")
	c := mustUpgrade(t, s.addr, "/ws", bearer(mint(t, auth.Claims{User: "alice"})))
	_ = c.Close()
	waitFor(t, "no connection tracked", func() bool {
		s.connsMu.Lock()
		defer s.connsMu.Unlock()
		return len(s.fresh) == 0
	})
	if n := value(t, s.metrics.SlowHandshakes); n != 2 {
		t.Fatalf("herald_slow_handshakes_total = %v after a served and an upgraded connection, want 2", n)
	}
}
