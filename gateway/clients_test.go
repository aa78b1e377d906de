package gateway

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// Two WebSocket clients for the tests: gwsClient, a real client that behaves
// (answers pings and close frames), and rawClient, which does only what a test
// tells it, to play clients that stop reading, stay silent or never answer.

// gwsClient records what a gws client receives.
type gwsClient struct {
	conn   *gws.Conn
	msgs   chan string
	pongs  chan string
	pings  atomic.Int32
	closed chan error // OnClose's error: a *gws.CloseError when a close frame came
	done   chan struct{}
}

func (c *gwsClient) OnOpen(*gws.Conn)                {}
func (c *gwsClient) OnClose(_ *gws.Conn, err error)  { c.closed <- err }
func (c *gwsClient) OnPong(_ *gws.Conn, p []byte)    { c.pongs <- string(p) }
func (c *gwsClient) OnPing(conn *gws.Conn, p []byte) { c.pings.Add(1); _ = conn.WritePong(p) }
func (c *gwsClient) OnMessage(_ *gws.Conn, m *gws.Message) {
	c.msgs <- m.Data.String()
	_ = m.Close()
}

// dial connects a gws client to url and reads until the connection closes; the
// test's end closes it.
func dial(t *testing.T, url string, hdr http.Header) *gwsClient {
	t.Helper()
	c := &gwsClient{msgs: make(chan string, 1024), pongs: make(chan string, 16), closed: make(chan error, 1), done: make(chan struct{})}
	conn, res, err := gws.NewClient(c, &gws.ClientOption{Addr: url, RequestHeader: hdr})
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	c.conn = conn
	go func() {
		defer close(c.done)
		conn.ReadLoop()
	}()
	t.Cleanup(func() {
		_ = conn.NetConn().Close()
		<-c.done
	})
	return c
}

// next waits for the next message.
func (c *gwsClient) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10 s")
		return ""
	}
}

// closeFrame waits for the connection to close and returns the close frame that
// closed it; it fails the test when the connection ended without one.
func (c *gwsClient) closeFrame(t *testing.T) *gws.CloseError {
	t.Helper()
	select {
	case err := <-c.closed:
		var ce *gws.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("the connection ended without a close frame: %v", err)
		}
		return ce
	case <-time.After(10 * time.Second):
		t.Fatal("the connection was not closed within 10 s")
		return nil
	}
}

// WebSocket opcodes, RFC 6455 section 5.2.
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xa
)

// rawClient is a WebSocket client by hand: it reads and writes single frames
// only when told to.
type rawClient struct {
	net.Conn
	br *bufio.Reader
}

// handshake sends a WebSocket upgrade request for path with hdr and reads the
// answer. On 101 the client is ready for frames; otherwise the connection is
// closed and the answer (with its body) is returned.
func handshake(t *testing.T, addr, path string, hdr http.Header) (*rawClient, answer) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Header = hdr.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(key))
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Time{})
	a := answer{status: res.StatusCode, header: res.Header}
	if res.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(res.Body)
		a.body = string(b)
		_ = conn.Close()
		return nil, a
	}
	return &rawClient{Conn: conn, br: br}, a
}

// mustUpgrade is handshake for a request that must be upgraded.
func mustUpgrade(t *testing.T, addr, path string, hdr http.Header) *rawClient {
	t.Helper()
	c, a := handshake(t, addr, path, hdr)
	if c == nil {
		t.Fatalf("GET %s: HTTP %d %s, want 101", path, a.status, a.body)
	}
	return c
}

// readFrame reads one frame (the server's are never masked nor fragmented here),
// waiting at most 10 s.
func (c *rawClient) readFrame() (op byte, payload []byte, err error) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		_, err = io.ReadFull(c.br, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, err = io.ReadFull(c.br, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	if err != nil {
		return 0, nil, err
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(c.br, payload)
	return h[0] & 0x0f, payload, err
}

// mustRead reads one frame of type op and returns its payload.
func (c *rawClient) mustRead(t *testing.T, op byte) []byte {
	t.Helper()
	got, p, err := c.readFrame()
	if err != nil {
		t.Fatalf("read a frame: %v", err)
	}
	if got != op {
		t.Fatalf("frame of opcode %#x (%q), want %#x", got, p, op)
	}
	return p
}

// writeFrame writes one masked frame, as a client must (payloads up to 125 bytes
// here, control frames and short messages).
func (c *rawClient) writeFrame(op byte, payload []byte) error {
	if len(payload) > 125 {
		return errors.New("rawClient: payload over 125 bytes")
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	f := append([]byte{0x80 | op, 0x80 | byte(len(payload))}, mask[:]...)
	for i, b := range payload {
		f = append(f, b^mask[i%4])
	}
	_, err := c.Write(f)
	return err
}

// closePayload is a close frame's payload: the code, then the reason.
func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// parseClose splits a close frame's payload.
func parseClose(t *testing.T, p []byte) (uint16, string) {
	t.Helper()
	if len(p) < 2 {
		t.Fatalf("close frame without a code: %q", p)
	}
	return binary.BigEndian.Uint16(p), string(p[2:])
}

// waitEOF reads and discards until the server closes the connection. A timeout
// means the server kept it open.
func (c *rawClient) waitEOF(t *testing.T) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server did not close the connection within 10 s")
	}
}
