package gateway

import (
	"errors"
	"sync"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/actors"
)

// events turns gws callbacks into calls on the session's handle. gws calls them on
// the connection's read goroutine, which must never block for long.
type events struct {
	pingTimeout time.Duration
	metrics     *Metrics
}

func (e *events) alive(c *gws.Conn) { _ = c.SetReadDeadline(time.Now().Add(e.pingTimeout)) }

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
}

func (e *events) OnPing(c *gws.Conn, payload []byte) {
	e.alive(c)
	if h := handleOf(c); h != nil {
		h.Pong(payload)
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
	h *actors.Handle
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

// socket is a session's view of its connection: every write has a deadline, and a
// failed write closes the connection (gws does that), which ends in OnClose.
//
// The deadline is per connection, not per write, and gws itself writes too (the
// answer to a client's close frame). So writes go through mu: each sets
// writeTimeout, and on success leaves a longer idle deadline (the ping timeout) in
// place, so that a later control frame written by gws still has a bound but is not
// cut by the previous data write's deadline.
type socket struct {
	c            *gws.Conn
	writeTimeout time.Duration
	idleTimeout  time.Duration
	mu           sync.Mutex
}

func (s *socket) write(f func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.c.SetWriteDeadline(time.Now().Add(s.writeTimeout))
	err := f()
	if err == nil {
		_ = s.c.SetWriteDeadline(time.Now().Add(s.idleTimeout))
	}
	return err
}

func (s *socket) WriteText(parts ...[]byte) error {
	return s.write(func() error {
		if len(parts) == 1 {
			return s.c.WriteMessage(gws.OpcodeText, parts[0])
		}
		return s.c.Writev(gws.OpcodeText, parts...)
	})
}

func (s *socket) Ping() error {
	return s.write(func() error { return s.c.WritePing(nil) })
}

func (s *socket) Pong(payload []byte) error {
	return s.write(func() error { return s.c.WritePong(payload) })
}

// closeWriteTimeout bounds the close frame: a client that stopped reading does not
// get it, and must not hold the session open.
const closeWriteTimeout = time.Second

func (s *socket) Close(code uint16, reason string) {
	_ = s.c.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
	_ = s.c.WriteClose(code, []byte(reason))
}
