package gateway

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// countingConn counts write-deadline calls and writes into nothing.
type countingConn struct {
	net.Conn
	deadlines int
	last      time.Time
}

func (c *countingConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *countingConn) SetWriteDeadline(t time.Time) error {
	c.deadlines++
	c.last = t
	return nil
}
func (c *countingConn) SetDeadline(t time.Time) error { return c.SetWriteDeadline(t) }

func TestDeadlineConnSetsOneDeadlinePerHalfTimeout(t *testing.T) {
	cc := &countingConn{}
	dc := newDeadlineConn(cc, time.Minute)
	for range 1000 {
		if _, err := dc.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if cc.deadlines != 1 {
		t.Fatalf("1000 writes set %d deadlines, want 1", cc.deadlines)
	}
	if d := time.Until(cc.last); d < 59*time.Second || d > time.Minute {
		t.Fatalf("deadline %v away, want about a minute", d)
	}
	// gws clears the deadline after the handshake: the next write must set one.
	_ = dc.SetDeadline(time.Time{})
	_, _ = dc.Write([]byte("x"))
	if cc.deadlines != 3 || cc.last.IsZero() {
		t.Fatalf("after a cleared deadline the write set none (calls %d, last %v)", cc.deadlines, cc.last)
	}
	// A deadline with less than half the timeout left is renewed.
	_ = dc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, _ = dc.Write([]byte("x"))
	if d := time.Until(cc.last); d < 59*time.Second {
		t.Fatalf("a deadline 10s away was kept for a write with a 1m timeout (now %v)", d)
	}
}

func TestDeadlineConnBoundsAWriteToAPeerThatDoesNotRead(t *testing.T) {
	a, b := net.Pipe() // synchronous: a write blocks until the peer reads
	defer a.Close()
	defer b.Close()
	dc := newDeadlineConn(a, 100*time.Millisecond)
	done := make(chan error, 1)
	go func() { _, err := dc.Write([]byte("stuck")); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write to a stalled peer: %v, want a deadline error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write to a stalled peer was not cut by the deadline")
	}
}

func TestDeadlineConnPinAndRefuse(t *testing.T) {
	cc := &countingConn{}
	dc := newDeadlineConn(cc, time.Minute)
	pin := time.Now().Add(time.Second)
	dc.pin(pin)
	_, _ = dc.Write([]byte("close frame"))
	if !cc.last.Equal(pin) {
		t.Fatalf("the close frame's deadline was replaced: %v, want %v", cc.last, pin)
	}
	dc.refuseWrites()
	if _, err := dc.Write([]byte("second close frame")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after refuseWrites: %v, want net.ErrClosed", err)
	}
}
