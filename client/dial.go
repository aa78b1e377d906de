package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"

	"github.com/lxzan/gws"
)

// connect makes one connection to rawURL and serves it until it ends.
func (c *Client) connect(rawURL string) outcome {
	tok, err := c.cfg.Token(c.ctx)
	if err != nil {
		return outcome{err: fmt.Errorf("herald client: token: %w", err)}
	}
	u, err := c.attemptURL(rawURL)
	if err != nil {
		return outcome{err: err} // checked by Dial already
	}
	ev := &events{c: c}
	ws, raw, err := c.handshake(u, tok, ev)
	if err != nil {
		return outcome{err: err}
	}
	return c.serve(ws, raw, ev)
}

// attemptURL is rawURL with this attempt's query: the device, and the offset to
// resume after, so that the node replays what the client missed.
func (c *Client) attemptURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	if c.cfg.Device != "" {
		q.Set("device", c.cfg.Device)
	}
	if since := c.LastOffset(); since != "" {
		q.Set("since", since)
	}
	u.RawQuery = q.Encode()
	return u, nil
}

// handshake dials u and upgrades. On success the connection is registered in c (so
// that Close can close it); a refused upgrade is an *HTTPError.
func (c *Client) handshake(u *url.URL, token string, ev *events) (*gws.Conn, net.Conn, error) {
	raw, err := c.dialTCP(u)
	if err != nil {
		return nil, nil, err
	}
	ws, err := c.upgrade(u, raw, token, ev)
	if err != nil {
		c.mu.Lock()
		c.raw = nil
		c.mu.Unlock()
		_ = raw.Close()
		return nil, nil, err
	}
	return ws, raw, nil
}

// dialTCP opens the TCP connection and registers it in c: from then on Close can
// abort the attempt by closing it.
func (c *Client) dialTCP(u *url.URL) (net.Conn, error) {
	addr := hostPort(u)
	raw, err := c.cfg.Dialer(c.ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("herald client: dial %s: %w", addr, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ctx.Err(); err != nil {
		_ = raw.Close() // Close ran while the dialer did: it could not see raw
		return nil, err
	}
	c.raw = raw
	return raw, nil
}

// hostPort is u's address, with the scheme's default port when it names none.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "wss" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// upgrade runs TLS (for wss) and the WebSocket handshake over raw, and registers
// the WebSocket in c, so that Close sends it a close frame.
func (c *Client) upgrade(u *url.URL, raw net.Conn, token string, ev *events) (*gws.Conn, error) {
	conn, err := c.secure(u, raw)
	if err != nil {
		return nil, err
	}
	ws, err := c.wsHandshake(u, conn, token, ev)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ctx.Err(); err != nil {
		return nil, err
	}
	c.ws = ws
	return ws, nil
}

// secure wraps raw in TLS for a wss URL; a ws URL gets raw back.
func (c *Client) secure(u *url.URL, raw net.Conn) (net.Conn, error) {
	if u.Scheme != "wss" {
		return raw, nil
	}
	cfg := &tls.Config{}
	if c.cfg.TLS != nil {
		cfg = c.cfg.TLS.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	tc := tls.Client(raw, cfg)
	hctx, cancel := context.WithTimeout(c.ctx, handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return nil, fmt.Errorf("herald client: tls %s: %w", hostPort(u), err)
	}
	return tc, nil
}

// wsHandshake sends the upgrade request with the token and reads the answer. A
// refusal becomes an *HTTPError with the node's reason.
func (c *Client) wsHandshake(u *url.URL, conn net.Conn, token string, ev *events) (*gws.Conn, error) {
	// gws closes the connection when the upgrade is refused, before the response
	// body is read; hold its Close until the body (the JSON reason) is read.
	hc := &holdConn{Conn: conn}
	hc.hold.Store(true)
	header := http.Header{}
	header.Set("Authorization", "Bearer "+token)
	ws, resp, err := gws.NewClientFromConn(ev, &gws.ClientOption{
		Addr:               u.String(),
		RequestHeader:      header,
		HandshakeTimeout:   handshakeTimeout,
		ReadMaxPayloadSize: maxMessageBytes,
	}, hc)
	hc.hold.Store(false)
	switch {
	case err == nil:
		return ws, nil
	case resp != nil && resp.StatusCode != http.StatusSwitchingProtocols:
		return nil, httpError(resp)
	case c.ctx.Err() != nil:
		return nil, c.ctx.Err()
	}
	return nil, fmt.Errorf("herald client: upgrade %s: %w", u.Redacted(), err)
}

// holdConn is a net.Conn whose Close does nothing while hold is set.
type holdConn struct {
	net.Conn
	hold atomic.Bool
}

func (h *holdConn) Close() error {
	if h.hold.Load() {
		return nil
	}
	return h.Conn.Close()
}
