package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
	"go.uber.org/goleak"

	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
)

const testSecret = "test-secret-0123456789abcdef"

func TestMain(m *testing.M) {
	logging.Disable()
	// protoactor throttles dead-letter logging with a goroutine that lives for one
	// throttle interval after a message reached a stopped actor (a reply to a closed
	// session); it ends by itself and is not ours to stop.
	code := m.Run()
	heraldBinary.Remove() // the herald binary the fault tests built
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testNode is a node started in-process against a real redis-server.
type testNode struct {
	*node
	t     *testing.T
	redis *redistest.Server
}

// startTestNode starts a node on redis with the given extra configuration flags.
func startTestNode(t *testing.T, srv *redistest.Server, opts nodeOptions, flags ...string) *testNode {
	t.Helper()
	args := append([]string{
		"--redis.addr", srv.Addr, "--auth.hmac_secret", testSecret, "--server.addr", "127.0.0.1:0",
		"--streams.block", "200ms", "--shutdown.timeout", "10s",
	}, flags...)
	cfg, err := config.Load(args, nil)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := startNode(context.Background(), cfg, log, opts)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	tn := &testNode{node: n, t: t, redis: srv}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Errorf("stop node: %v", err)
		}
	})
	waitReady(t, tn)
	return tn
}

func waitReady(t *testing.T, n *testNode) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, func() error {
		res, err := http.Get("http://" + n.Addr() + "/readyz")
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(res.Body)
			return fmt.Errorf("readyz %d %s", res.StatusCode, b)
		}
		return nil
	})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func mint(t *testing.T, user, device string, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.Mint([]byte(testSecret), auth.Claims{User: user, Device: device, Expiry: time.Now().Add(ttl)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// frame is one decoded server frame.
type frame map[string]any

func (f frame) str(k string) string { s, _ := f[k].(string); return s }

// wsClient is a plain test client: it records every frame and the close code.
type wsClient struct {
	t      *testing.T
	conn   *gws.Conn
	frames chan frame
	closed chan struct{}
	mu     sync.Mutex
	code   uint16
	raw    int // messages (not frames) received
	// counting, when set, makes the client only count frames and keep the last one,
	// so that it keeps up with a flood even under the race detector.
	counting bool
	noPong   bool // set before dialing: ignore the server's pings
	pongs    int
	count    int
	lastLine []byte
}

func (c *wsClient) OnOpen(*gws.Conn) {}
func (c *wsClient) OnPing(s *gws.Conn, p []byte) {
	if !c.noPong {
		_ = s.WritePong(p)
	}
}
func (c *wsClient) OnPong(*gws.Conn, []byte) {
	c.mu.Lock()
	c.pongs++
	c.mu.Unlock()
}
func (c *wsClient) OnClose(_ *gws.Conn, err error) {
	var ce *gws.CloseError
	c.mu.Lock()
	if errors.As(err, &ce) {
		c.code = ce.Code
	}
	c.mu.Unlock()
	close(c.closed)
}

func (c *wsClient) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	c.mu.Lock()
	c.raw++
	if c.counting {
		c.count += bytes.Count(m.Bytes(), []byte("\n")) + 1
		i := bytes.LastIndexByte(m.Bytes(), '\n')
		c.lastLine = append(c.lastLine[:0], m.Bytes()[i+1:]...)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	at := float64(time.Now().UnixNano())
	for _, line := range splitLines(m.Bytes()) {
		f := decodeFrame(line)
		f["_received"] = at // unix ns, for latency measurements
		select {
		case c.frames <- f:
		default:
			c.t.Errorf("test client buffer full")
		}
	}
}

// dial connects to n's /ws with query (already encoded, without "?").
func dial(t *testing.T, n *testNode, query string, header http.Header) (*wsClient, *http.Response, error) {
	t.Helper()
	c := &wsClient{t: t, frames: make(chan frame, 100_000), closed: make(chan struct{})}
	conn, res, err := gws.NewClient(c, &gws.ClientOption{
		Addr:               "ws://" + n.Addr() + "/ws?" + query,
		RequestHeader:      header,
		ReadMaxPayloadSize: 8 << 20,
	})
	if err != nil {
		return nil, res, err
	}
	c.conn = conn
	go conn.ReadLoop()
	t.Cleanup(c.close)
	return c, res, nil
}

// connect dials with a fresh token for user and expects the welcome frame.
func connect(t *testing.T, n *testNode, user, query string) *wsClient {
	t.Helper()
	q := "token=" + mint(t, user, "", time.Hour)
	if query != "" {
		q += "&" + query
	}
	c, res, err := dial(t, n, q, nil)
	if err != nil {
		t.Fatalf("dial as %s: %v (%v)", user, err, statusOf(res))
	}
	w := c.next(5 * time.Second)
	if w.str("type") != "welcome" || w.str("user") != user {
		t.Fatalf("first frame %v, want welcome for %s", w, user)
	}
	return c
}

func statusOf(res *http.Response) string {
	if res == nil {
		return "no response"
	}
	return res.Status
}

func (c *wsClient) close() {
	if c.conn != nil {
		_ = c.conn.WriteClose(1000, nil)
	}
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
		_ = c.conn.NetConn().Close()
		<-c.closed
	}
}

// next returns the next frame or fails the test after d.
func (c *wsClient) next(d time.Duration) frame {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(d):
		c.t.Fatalf("no frame within %v", d)
		return nil
	}
}

// pushes collects n push frames, failing on any other frame type.
func (c *wsClient) pushes(n int, d time.Duration) []frame {
	c.t.Helper()
	out := make([]frame, 0, n)
	deadline := time.After(d)
	for len(out) < n {
		select {
		case f := <-c.frames:
			if f.str("type") != "push" {
				c.t.Fatalf("frame %v, want push (after %d pushes)", f, len(out))
			}
			out = append(out, f)
		case <-deadline:
			c.t.Fatalf("got %d of %d pushes within %v", len(out), n, d)
		}
	}
	return out
}

// quiet fails if a frame arrives within d.
func (c *wsClient) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case f := <-c.frames:
		c.t.Fatalf("unexpected frame %v", f)
	case <-time.After(d):
	}
}

// closeCode waits for the connection to close and returns the server's code.
func (c *wsClient) closeCode(d time.Duration) uint16 {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(d):
		c.t.Fatalf("connection not closed within %v", d)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code
}

// xadd appends an ingress entry directly, as a publishing service does.
func xadd(t *testing.T, n *testNode, fields ...any) string {
	t.Helper()
	id, err := n.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: "herald:in", Values: fields}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func freeListener(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func fmtSscan(s string, v *float64) (int, error) { return fmt.Sscan(s, v) }

func splitLines(b []byte) [][]byte { return bytes.Split(b, []byte("\n")) }

func decodeFrame(line []byte) frame {
	var f frame
	if err := json.Unmarshal(line, &f); err != nil {
		return frame{"type": "<not json>", "raw": string(line)}
	}
	return f
}
