package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/actors"
)

// events turns gws callbacks into calls on the session's handle. gws calls them on
// the connection's read goroutine, which must never block for long.
type events struct {
	metrics *Metrics
	log     *slog.Logger
	node    string
}

// alive notes a sign of life from the client. It only stores the time: a read
// deadline set here would re-arm a timer on every frame and, run on the read
// goroutine, grow the stack every idle connection parks with past 2 KiB. The
// session's pinger closes a connection silent for the ping timeout (socket.Ping).
func (e *events) alive(c *gws.Conn) {
	if st, ok := c.Session().(*handleStorage); ok && st.sock != nil {
		st.sock.lastSeen.Store(time.Now().UnixNano())
	}
}

func (e *events) OnOpen(c *gws.Conn) { e.alive(c) }

// OnClose is the one teardown point of a session, whoever closed the connection.
func (e *events) OnClose(c *gws.Conn, err error) {
	// gws refuses a frame over limits.max_frame_bytes from its header, before
	// reading or allocating the payload, and closes with 1009; it hands that code
	// to OnClose as its own status type.
	var code interface{ Uint16() uint16 }
	if errors.As(err, &code) && code.Uint16() == 1009 {
		e.metrics.OversizeFrames.Inc()
	}
	if h := handleOf(c); h != nil {
		h.PeerClosed()
	}
	if st, ok := c.Session().(*handleStorage); ok && st.sock != nil {
		e.logClosed(st.sock, err)
	}
}

func (e *events) OnPing(c *gws.Conn, payload []byte) {
	e.alive(c)
	if st, ok := c.Session().(*handleStorage); ok && st.sock != nil {
		st.sock.owePong(payload)
	}
}

func (e *events) OnPong(c *gws.Conn, _ []byte) { e.alive(c) }

func (e *events) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	e.alive(c)
	if h := handleOf(c); h != nil {
		h.Inbound(m.Bytes()) // decodes before returning: m's pooled buffer is not kept
	}
}

// handleStorage is gws session storage that holds only the session's handle; gws's
// default is a mutex-guarded map per connection, which idle connections pay for.
type handleStorage struct {
	h    *actors.Handle
	sock *socket
}

const handleKey = "h"

func (s *handleStorage) Len() int {
	if s.h == nil {
		return 0
	}
	return 1
}

func (s *handleStorage) Load(key string) (any, bool) {
	if key != handleKey || s.h == nil {
		return nil, false
	}
	return s.h, true
}

func (s *handleStorage) Delete(key string) {
	if key == handleKey {
		s.h = nil
	}
}

func (s *handleStorage) Store(key string, v any) {
	if h, ok := v.(*actors.Handle); ok && key == handleKey {
		s.h = h
	}
}

func (s *handleStorage) Range(f func(string, any) bool) {
	if s.h != nil {
		f(handleKey, s.h)
	}
}

func handleOf(c *gws.Conn) *actors.Handle {
	v, ok := c.Session().Load(handleKey)
	if !ok {
		return nil
	}
	return v.(*actors.Handle)
}

// gwsLogger sends gws's own messages (recovered panics, handshake errors) to slog.
type gwsLogger struct{ log *slog.Logger }

func (l gwsLogger) Error(v ...any) { l.log.Warn("websocket", "detail", fmt.Sprint(v...)) }
