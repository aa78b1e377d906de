package client

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/herald-push/herald/wire"
)

// Close codes the client acts on (docs/PROTOCOL.md section 6).
const (
	codeGoingAway       = wire.CloseGoingAway
	codeTokenExpired    = wire.CloseTokenExpired
	codePolicy          = wire.ClosePolicy
	codeTooManySessions = wire.CloseTooManySessions
	codeServiceRestart  = wire.CloseServiceRestart
	codeDisconnected    = wire.CloseDisconnected
	// codeAbnormal is what WebSocket reports for a connection that ended without a
	// close frame; no node sends it.
	codeAbnormal uint16 = 1006
)

// outcome is how one connection attempt ended.
type outcome struct {
	err      error         // *CloseError, *HTTPError, or a token/dial/handshake error
	welcomed bool          // the node's welcome arrived
	up       time.Duration // from the handshake to the end
}

// run connects, serves the connection, and reconnects until Close or a refusal
// that retrying cannot fix. It is the only goroutine that calls the callbacks.
func (c *Client) run() {
	defer close(c.done)
	var final error
	failures := 0 // consecutive failures, for the backoff
	for i := 0; ; i++ {
		c.state(Connecting, nil)
		o := c.connect(c.cfg.URLs[i%len(c.cfg.URLs)])
		if c.ctx.Err() != nil {
			break
		}
		c.mu.Lock()
		c.lastErr = o.err
		c.mu.Unlock()
		delay, retry := c.retryDelay(o, &failures)
		if !retry {
			final = o.err
			break
		}
		c.state(Disconnected, o.err)
		if !c.sleep(delay) {
			break
		}
	}
	c.mu.Lock()
	c.finalErr = final
	c.mu.Unlock()
	// A client that stopped by itself (4003, 4009, 4010, a permanent refusal) is closed
	// like one Close stopped: its methods answer ErrClosed instead of queueing
	// subscriptions for a connection that will never come.
	c.cancel()
	c.state(Closed, final)
}

// retryDelay decides, from how a connection ended, whether and when to try again.
// failures counts the consecutive failed attempts, which the backoff grows with.
func (c *Client) retryDelay(o outcome, failures *int) (time.Duration, bool) {
	if o.welcomed || o.up > stableAfter {
		*failures = 0 // that connection worked: start the backoff over
	}
	var he *HTTPError
	if errors.As(o.err, &he) && he.permanent() {
		return 0, false
	}
	var ce *CloseError
	if errors.As(o.err, &ce) {
		switch ce.Code {
		case codePolicy, codeTooManySessions, codeDisconnected:
			return 0, false
		case codeServiceRestart:
			// The operator asked this session to reconnect: at once, with since.
			return 0, true
		case codeTokenExpired:
			// At once, with a new token; but not in a tight loop if the new
			// tokens expire at once too (clock skew, a stale token source).
			if o.up > time.Second {
				return 0, true
			}
		case codeGoingAway:
			// Spread the reconnections of a draining node's clients over the
			// other nodes instead of arriving all at once.
			return rand.N(c.cfg.Backoff.Max + 1), true
		}
	}
	d := c.backoff(*failures)
	*failures++
	return d, true
}

// backoff is a full-jitter delay for the n-th consecutive failure.
func (c *Client) backoff(n int) time.Duration {
	ceil := c.cfg.Backoff.Min
	for i := 0; i < n && ceil < c.cfg.Backoff.Max; i++ {
		ceil *= 2
	}
	return rand.N(min(ceil, c.cfg.Backoff.Max) + 1)
}

// sleep waits d, and reports false if the client was closed meanwhile.
func (c *Client) sleep(d time.Duration) bool {
	if d <= 0 {
		return c.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}
