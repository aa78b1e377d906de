package gateway

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/wire"
)

// logBuffer is a JSON log written from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// find returns the first line with message msg, or nil.
func (b *logBuffer) find(msg string) map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, line := range strings.Split(b.buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			return m
		}
	}
	return nil
}

func jsonLog(level slog.Level) (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: level})), b
}

// wantLine waits for a line with msg and checks its fields.
func wantLine(t *testing.T, b *logBuffer, msg string, want map[string]any) {
	t.Helper()
	var line map[string]any
	waitFor(t, "log line "+msg, func() bool { line = b.find(msg); return line != nil })
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s: %s = %v, want %v (line %v)", msg, k, line[k], v, line)
		}
	}
}

// At debug: a refused handshake (status, reason, remote address), a session
// opened and closed by the client (user, device, session, node, code, reason).
// A slow consumer's close is at info.
func TestSessionsAndRefusalsAreLogged(t *testing.T) {
	log, b := jsonLog(slog.LevelDebug)
	sessions := newFakeSessions()
	s := startServer(t, testConfig(), Deps{Sessions: sessions, Log: log})

	handshake(t, s.addr, "/ws", nil)
	wantLine(t, b, msgRefused, map[string]any{"level": "DEBUG", "status": float64(401), "node": "n1"})
	if r := b.find(msgRefused); !strings.Contains(r["reason"].(string), "missing token") || !strings.HasPrefix(r["remote"].(string), "127.0.0.1:") {
		t.Errorf("refusal line %v, want the reason and the remote address", r)
	}

	c := dial(t, s.wsURL("/ws"), bearer(mint(t, auth.Claims{User: "alice", Device: "phone"})))
	o := sessions.next(t)
	wantLine(t, b, msgOpened, map[string]any{"level": "DEBUG", "user": "alice", "device": "phone", "session": o.spec.ID, "node": "n1"})
	_ = c.conn.WriteClose(1000, []byte("bye"))
	wantLine(t, b, msgClosed, map[string]any{"level": "DEBUG", "user": "alice", "session": o.spec.ID,
		"code": float64(1000), "reason": "bye", "by": "client"})

	dial(t, s.wsURL("/ws"), bearer(mint(t, auth.Claims{User: "bob"})))
	o = sessions.next(t)
	o.sock.Close(wire.CloseSlowConsumer, "slow consumer: over the unsent byte budget")
	wantLine(t, b, msgSlowConsumer, map[string]any{"level": "INFO", "user": "bob", "session": o.spec.ID,
		"code": float64(4008), "by": "node"})
}

// At info, the per-session lines are not written (nor built), the slow
// consumer's is.
func TestSessionLinesAreDebugOnly(t *testing.T) {
	log, b := jsonLog(slog.LevelInfo)
	sessions := newFakeSessions()
	s := startServer(t, testConfig(), Deps{Sessions: sessions, Log: log})
	handshake(t, s.addr, "/ws", nil)
	dial(t, s.wsURL("/ws"), bearer(mint(t, auth.Claims{User: "bob"})))
	o := sessions.next(t)
	o.sock.Close(wire.CloseSlowConsumer, "slow consumer")
	wantLine(t, b, msgSlowConsumer, map[string]any{"level": "INFO", "user": "bob"})
	for _, msg := range []string{msgRefused, msgOpened, msgClosed} {
		if b.find(msg) != nil {
			t.Errorf("%q logged at info level", msg)
		}
	}
}
