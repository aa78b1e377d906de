package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/client"
	"github.com/herald-push/herald/wire"
)

// fakeNode is an in-process WebSocket server that plays a node's side of the
// protocol as a test scripts it: each accepted connection is handed to the test,
// which sends frames, reads what the client sent and closes with a chosen code.
// It needs no Redis and no herald process, so these tests take milliseconds.
type fakeNode struct {
	t        *testing.T
	srv      *httptest.Server
	accepted chan *fakeConn
	attempts atomic.Int32 // upgrade requests, refused ones included

	mu     sync.Mutex
	refuse func(r *http.Request) (status int, body string) // nil: accept every upgrade
	conns  []*fakeConn
	loops  sync.WaitGroup // the connections' read loops
}

// fakeConn is one WebSocket connection of a fakeNode.
type fakeConn struct {
	req      *http.Request // the upgrade request: query (since, device) and headers
	ws       *gws.Conn
	frames   chan clientFrame // what the client sent, in order
	pings    atomic.Int32
	silent   atomic.Bool // do not answer pings (a node that hangs)
	closed   chan struct{}
	closeErr error // why the read loop ended; set before closed is closed
}

// clientFrame is a frame the client sent, as the node's decoder sees it: a
// frame the node would refuse is a test failure.
type clientFrame struct {
	wire.ClientFrame
	bad *wire.ErrorFrame
}

func startFakeNode(t *testing.T) *fakeNode {
	t.Helper()
	n := &fakeNode{t: t, accepted: make(chan *fakeConn, 64)}
	n.srv = httptest.NewServer(http.HandlerFunc(n.serveHTTP))
	t.Cleanup(n.stop)
	return n
}

func (n *fakeNode) url() string { return "ws" + strings.TrimPrefix(n.srv.URL, "http") + "/ws" }

// setRefuse makes the node answer upgrades with f's status and body (status 0:
// upgrade), or upgrade them all again with nil.
func (n *fakeNode) setRefuse(f func(r *http.Request) (int, string)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.refuse = f
}

func (n *fakeNode) serveHTTP(w http.ResponseWriter, r *http.Request) {
	n.attempts.Add(1)
	n.mu.Lock()
	refuse := n.refuse
	n.mu.Unlock()
	if refuse != nil {
		if status, body := refuse(r); status != 0 {
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
			return
		}
	}
	fc := &fakeConn{req: r, frames: make(chan clientFrame, 256), closed: make(chan struct{})}
	ws, err := gws.NewUpgrader(fc, &gws.ServerOption{}).Upgrade(w, r)
	if err != nil {
		n.t.Errorf("fake node: upgrade: %v", err)
		return
	}
	fc.ws = ws
	n.mu.Lock()
	n.conns = append(n.conns, fc)
	n.loops.Add(1)
	n.mu.Unlock()
	go func() {
		defer n.loops.Done()
		ws.ReadLoop()
	}()
	n.accepted <- fc
}

// stop closes every connection and the listener, and waits for the read loops,
// so that goleak finds nothing of the fake node.
func (n *fakeNode) stop() {
	n.mu.Lock()
	conns := append([]*fakeConn(nil), n.conns...)
	n.mu.Unlock()
	for _, c := range conns {
		_ = c.ws.NetConn().Close()
	}
	n.srv.Close()
	n.loops.Wait()
}

// accept waits for the client's next connection.
func (n *fakeNode) accept(t *testing.T) *fakeConn {
	t.Helper()
	select {
	case c := <-n.accepted:
		return c
	case <-time.After(10 * time.Second):
		t.Fatalf("fake node: no connection from the client")
		return nil
	}
}

func (c *fakeConn) OnOpen(*gws.Conn) {}

func (c *fakeConn) OnClose(_ *gws.Conn, err error) {
	c.closeErr = err
	close(c.closed)
}

func (c *fakeConn) OnPing(ws *gws.Conn, payload []byte) {
	c.pings.Add(1)
	if !c.silent.Load() {
		_ = ws.WritePong(payload)
	}
}

func (c *fakeConn) OnPong(*gws.Conn, []byte) {}

func (c *fakeConn) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	f, bad := wire.DecodeClientFrame(m.Bytes())
	c.frames <- clientFrame{ClientFrame: f, bad: bad}
}

// send writes each line as one text message.
func (c *fakeConn) send(t *testing.T, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if err := c.ws.WriteString(l); err != nil {
			t.Fatalf("fake node: write: %v", err)
		}
	}
}

func (c *fakeConn) welcome(t *testing.T, session, offset string) {
	t.Helper()
	c.send(t, fmt.Sprintf(`{"type":"welcome","session":%q,"node":"fake","user":"alice","offset":%q}`, session, offset))
}

// pushFrame is a push frame as the node encodes it, with data {"n":n}, the form
// recorder.ns reads.
func pushFrame(r wire.Recipient, id, offset string, n int) string {
	p := wire.Push{Recipient: r, ID: id, Offset: wire.MustOffset(offset), TS: 1700000000000,
		Data: fmt.Appendf(nil, `{"n":%d}`, n)}
	return string(p.AppendFrame(nil))
}

// closeWith ends the connection with a close frame, as a node does.
func (c *fakeConn) closeWith(t *testing.T, code uint16, reason string) {
	t.Helper()
	_ = c.ws.WriteClose(code, []byte(reason))
}

// drop ends the connection without a close frame, as a crashed node does.
func (c *fakeConn) drop() { _ = c.ws.NetConn().Close() }

// next returns the client's next frame, failing on one the node would refuse.
func (c *fakeConn) next(t *testing.T) wire.ClientFrame {
	t.Helper()
	select {
	case f := <-c.frames:
		if f.bad != nil {
			t.Fatalf("the client sent a frame the node refuses: %v", f.bad)
		}
		return f.ClientFrame
	case <-time.After(10 * time.Second):
		t.Fatalf("no frame from the client")
		return wire.ClientFrame{}
	}
}

// rest returns the frames the client sent until the connection ended.
func (c *fakeConn) rest(t *testing.T) []wire.ClientFrame {
	t.Helper()
	c.waitClosed(t)
	var out []wire.ClientFrame
	for {
		select {
		case f := <-c.frames:
			if f.bad != nil {
				t.Fatalf("the client sent a frame the node refuses: %v", f.bad)
			}
			out = append(out, f.ClientFrame)
		default:
			return out
		}
	}
}

// waitClosed waits for the connection's end and returns the client's close
// frame, if it sent one.
func (c *fakeConn) waitClosed(t *testing.T) *gws.CloseError {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("the connection did not end")
	}
	var ce *gws.CloseError
	if errors.As(c.closeErr, &ce) {
		return ce
	}
	return nil
}

// since is the resume offset the client asked for on this connection.
func (c *fakeConn) since() string { return c.req.URL.Query().Get("since") }

// fakeConfig is a recorder's config for a fake node, with short backoffs so that
// reconnections take milliseconds.
func (r *recorder) fakeConfig(t *testing.T, urls ...string) client.Config {
	cfg := r.config(t, "alice", urls...)
	cfg.Backoff = client.Backoff{Min: time.Millisecond, Max: 10 * time.Millisecond}
	cfg.OnSent = func(ref, id string) {
		r.mu.Lock()
		r.sent = append(r.sent, ref+"="+id)
		r.mu.Unlock()
	}
	return cfg
}

// dialFake dials n and answers the first connection with a welcome at offset.
func dialFake(t *testing.T, n *fakeNode, cfg client.Config, offset string) (*client.Client, *fakeConn) {
	t.Helper()
	type result struct {
		c   *client.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, cfg)
		done <- result{c, err}
	}()
	conn := n.accept(t)
	conn.welcome(t, "s-1", offset)
	r := <-done
	if r.err != nil {
		t.Fatalf("dial: %v", r.err)
	}
	t.Cleanup(func() { _ = r.c.Close() })
	return r.c, conn
}
