package gateway

import (
	"net"
	"sync/atomic"
	"time"
)

// deadlineConn bounds every write on a WebSocket connection, gws's own included
// (its answer to a client's close frame), with a write deadline that it refreshes
// only when less than half of timeout is left. A write is so bounded by between
// half the timeout and all of it, for one deadline call per half timeout instead of
// one or two per write (setting a deadline re-arms a runtime timer: 3.7 % of a
// node's CPU under load when done twice per write, bench/RESULTS.md).
type deadlineConn struct {
	net.Conn
	timeout  time.Duration
	deadline atomic.Int64 // unix ns of the write deadline in place
	pinned   atomic.Bool  // the deadline was set for the close frame; keep it
	refuse   atomic.Bool  // our close frame is out: nothing may follow it
}

func newDeadlineConn(c net.Conn, timeout time.Duration) *deadlineConn {
	return &deadlineConn{Conn: c, timeout: timeout}
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if c.refuse.Load() {
		return 0, net.ErrClosed
	}
	if !c.pinned.Load() {
		now := time.Now()
		if c.deadline.Load()-now.UnixNano() < int64(c.timeout/2) {
			dl := now.Add(c.timeout)
			if err := c.Conn.SetWriteDeadline(dl); err != nil {
				return 0, err
			}
			c.deadline.Store(dl.UnixNano())
		}
	}
	return c.Conn.Write(p)
}

// pin sets the deadline of the writes to come, the close frame's, and keeps it.
func (c *deadlineConn) pin(t time.Time) {
	c.pinned.Store(true)
	_ = c.Conn.SetWriteDeadline(t)
}

// refuseWrites makes every later write fail, which makes gws close the connection.
func (c *deadlineConn) refuseWrites() { c.refuse.Store(true) }

// SetDeadline and SetWriteDeadline keep Write's view of the deadline true when
// someone else sets it (gws clears it after the handshake).
func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.deadline.Store(unixNano(t))
	return c.Conn.SetDeadline(t)
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.deadline.Store(unixNano(t))
	return c.Conn.SetWriteDeadline(t)
}

// unixNano is t in unix ns, 0 (long past) for no deadline: the next write sets one.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
