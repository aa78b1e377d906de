package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/wire"
	"github.com/lxzan/gws"
)

// A client flooding pings while its connection is slow to write must hold at most
// one pong goroutine, not one per ping.
func TestPingFloodHoldsOnePongGoroutine(t *testing.T) {
	s := &socket{}
	s.closing.Store(true) // writes return at once, once they get the lock
	s.mu.Lock()           // a write in progress: the pong goroutine waits
	g0 := runtime.NumGoroutine()
	for range 10_000 {
		s.owePong([]byte("p"))
	}
	if d := runtime.NumGoroutine() - g0; d > 1 {
		t.Fatalf("10,000 pings started %d goroutines, want at most 1", d)
	}
	s.mu.Unlock()
	// Not the goroutine count again: other tests' goroutines may still be ending.
	waitFor(t, "the pong goroutine ends", func() bool { return !s.ponging.Load() })
	if s.pong.Load() != nil {
		t.Fatal("a ping was left unanswered")
	}
}

// upgraded is a raw client connected to a server with fake sessions, and the
// socket the session layer got for it.
func upgraded(t *testing.T, cfg Config) (*testServer, *rawClient, *socket) {
	t.Helper()
	sessions := newFakeSessions()
	s := startServer(t, cfg, Deps{Sessions: sessions})
	c := mustUpgrade(t, s.addr, "/ws", bearer(mint(t, auth.Claims{User: "alice"})))
	return s, c, sessions.next(t).sock
}

// Messages arrive in the order written, each whole; the parts of one WriteText
// make one message.
func TestSocketWritesInOrder(t *testing.T) {
	sessions := newFakeSessions()
	s := startServer(t, testConfig(), Deps{Sessions: sessions})
	c := dial(t, s.wsURL("/ws"), bearer(mint(t, auth.Claims{User: "alice"})))
	sock := sessions.next(t).sock
	for i := range 200 {
		n := strconv.Itoa(i)
		parts := [][]byte{[]byte(n)}
		if i%2 == 1 {
			parts = [][]byte{[]byte(n), []byte("\n"), []byte(n)}
		}
		if err := sock.WriteText(parts...); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 {
		n := strconv.Itoa(i)
		want := n
		if i%2 == 1 {
			want = n + "\n" + n
		}
		if got := c.next(t); got != want {
			t.Fatalf("message %d is %q, want %q", i, got, want)
		}
	}
}

// Writers on several goroutines (the session actor, the pinger, the pong
// goroutine) never interleave inside a message.
func TestSocketConcurrentWritesStayWhole(t *testing.T) {
	sessions := newFakeSessions()
	s := startServer(t, testConfig(), Deps{Sessions: sessions})
	c := dial(t, s.wsURL("/ws"), bearer(mint(t, auth.Claims{User: "alice"})))
	sock := sessions.next(t).sock
	const writers, each = 4, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body := bytes.Repeat([]byte{'a' + byte(w)}, 4096)
				_ = sock.WriteText([]byte(fmt.Sprintf("%d-%03d:", w, i)), body)
			}
		}()
	}
	wg.Wait()
	next := make([]int, writers)
	for range writers * each {
		m := c.next(t)
		var w, i int
		if _, err := fmt.Sscanf(m, "%d-%03d:", &w, &i); err != nil || len(m) != 6+4096 ||
			strings.Trim(m[6:], string(rune('a'+w))) != "" {
			t.Fatalf("a torn message: %.40q... (%d bytes)", m, len(m))
		}
		if i != next[w] {
			t.Fatalf("writer %d: message %d after %d", w, i, next[w]-1)
		}
		next[w]++
	}
}

// A client that stops reading: a write blocks until gateway.write_timeout, fails
// with a deadline error, and the connection is closed: later writes fail at
// once and the client, reading again, finds the stream ended.
func TestSocketWriteToAStalledClientFailsAndCloses(t *testing.T) {
	cfg := testConfig()
	cfg.WriteTimeout = 200 * time.Millisecond
	_, c, sock := upgraded(t, cfg)
	msg := bytes.Repeat([]byte("x"), 60<<10)
	var err error
	for i := 0; i < 5000 && err == nil; i++ { // 300 MB: far past any socket buffers
		err = sock.WriteText(msg)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("writing to a client that stopped reading: %v, want a deadline error", err)
	}
	if err := sock.WriteText([]byte("after")); !errors.Is(err, gws.ErrConnClosed) {
		t.Fatalf("write after a failed write: %v, want gws.ErrConnClosed", err)
	}
	c.waitEOF(t)
}

// Close is a closing handshake: one close frame with the code and reason, nothing
// after it (a second Close and later writes are refused, and the node does not
// answer the client's close frame with another, which browsers reject), and the
// connection stays open while the client is still sending, so that the client
// sees the code rather than a reset.
func TestSocketCloseIsAClosingHandshake(t *testing.T) {
	_, c, sock := upgraded(t, testConfig())
	sock.Close(wire.CloseTooManySessions, "too many sessions for this user")
	sock.Close(wire.ClosePolicy, "a second close")
	if code, reason := parseClose(t, c.mustRead(t, opClose)); code != 4009 || reason != "too many sessions for this user" {
		t.Fatalf("close frame %d %q, want 4009 and the reason", code, reason)
	}
	if err := sock.WriteText([]byte("late")); !errors.Is(err, gws.ErrConnClosed) {
		t.Fatalf("WriteText after Close: %v, want gws.ErrConnClosed", err)
	}
	if err := c.writeFrame(opText, []byte(`{"type":"ack","offset":"1-0"}`)); err != nil {
		t.Fatal(err)
	}
	if err := c.writeFrame(opClose, closePayload(4009, "")); err != nil {
		t.Fatal(err)
	}
	if op, p, err := c.readFrame(); err != io.EOF {
		t.Fatalf("after the client's close frame: opcode %#x %q, err %v; want the connection closed", op, p, err)
	}
}

// A client that never answers the close frame is cut after closeReplyTimeout.
func TestSocketCloseWithoutAnAnswerEnds(t *testing.T) {
	_, c, sock := upgraded(t, testConfig())
	sock.Close(wire.CloseSlowConsumer, "slow consumer")
	if code, _ := parseClose(t, c.mustRead(t, opClose)); code != wire.CloseSlowConsumer {
		t.Fatalf("close code %d, want 4008", code)
	}
	c.waitEOF(t)
}

// Ping writes a ping while the client shows signs of life; once it has sent
// nothing for gateway.ping_timeout, Ping closes the connection instead and
// counts it.
func TestSocketPingClosesASilentClient(t *testing.T) {
	cfg := testConfig()
	s, c, sock := upgraded(t, cfg)
	if err := sock.Ping(); err != nil {
		t.Fatal(err)
	}
	c.mustRead(t, opPing)
	sock.lastSeen.Store(time.Now().Add(-cfg.PingTimeout - time.Second).UnixNano())
	if err := sock.Ping(); !errors.Is(err, errIdle) {
		t.Fatalf("Ping of a client silent for the ping timeout: %v, want errIdle", err)
	}
	if n := value(t, s.metrics.IdleClosed); n != 1 {
		t.Errorf("herald_idle_closes_total = %v, want 1", n)
	}
	c.waitEOF(t)
}
