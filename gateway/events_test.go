package gateway

import (
	"bytes"
	"testing"
	"time"

	"github.com/herald-push/herald/gateway/auth"
)

// Every frame from the client counts as a sign of life: a ping (answered with a
// pong carrying its payload), a message, a pong. After one, Ping pings again
// instead of closing.
func TestClientFramesAreSignsOfLife(t *testing.T) {
	cfg := testConfig()
	_, c, sock := upgraded(t, cfg)
	frames := []struct {
		name string
		op   byte
		body string
	}{{"ping", opPing, "are you there"}, {"message", opText, `{"type":"ack","offset":"1-0"}`}, {"pong", opPong, ""}}
	for _, f := range frames {
		sock.lastSeen.Store(time.Now().Add(-2 * cfg.PingTimeout).UnixNano())
		before := time.Now().UnixNano()
		if err := c.writeFrame(f.op, []byte(f.body)); err != nil {
			t.Fatal(err)
		}
		if f.op == opPing {
			if p := c.mustRead(t, opPong); string(p) != f.body {
				t.Fatalf("pong %q, want the ping's payload %q", p, f.body)
			}
		}
		waitFor(t, "a "+f.name+" from the client is noted", func() bool { return sock.lastSeen.Load() >= before })
		if err := sock.Ping(); err != nil {
			t.Fatalf("Ping after a %s: %v", f.name, err)
		}
		c.mustRead(t, opPing)
	}
}

// A frame over limits.max_frame_bytes closes the connection with 1009 from its
// header, and is counted.
func TestOversizeFrameClosesWith1009(t *testing.T) {
	cfg := testConfig()
	cfg.MaxFrameBytes = 1024
	s := startServer(t, cfg, Deps{})
	c := dial(t, s.wsURL("/ws"), bearer(mint(t, auth.Claims{User: "alice"})))
	if err := c.conn.WriteString(`{"type":"send","data":"` + string(bytes.Repeat([]byte("x"), 2048)) + `"}`); err != nil {
		t.Fatal(err)
	}
	if ce := c.closeFrame(t); ce.Code != 1009 {
		t.Fatalf("closed with %d, want 1009", ce.Code)
	}
	waitFor(t, "herald_oversize_frames_total = 1", func() bool { return value(t, s.metrics.OversizeFrames) == 1 })
}

// handleStorage keeps the session's handle only, under its one key.
func TestHandleStorage(t *testing.T) {
	var st handleStorage
	if st.Len() != 0 {
		t.Fatal("empty storage has a handle")
	}
	st.Store("other", 42)
	if _, ok := st.Load("other"); ok || st.Len() != 0 {
		t.Fatal("storage kept a value that is not the handle")
	}
	n := 0
	st.Range(func(string, any) bool { n++; return true })
	if n != 0 {
		t.Fatal("Range visited an empty storage")
	}
}
