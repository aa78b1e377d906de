package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// Close codes the client acts on (PROTOCOL.md section 6).
const (
	codeGoingAway       = 1001
	codeAbnormal        = 1006
	codeTokenExpired    = 4001
	codePolicy          = 4003
	codeTooManySessions = 4009
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
		if o.welcomed || o.up > stableAfter {
			failures = 0
		}
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
	c.state(Closed, final)
}

// retryDelay decides, from how a connection ended, whether and when to try again.
func (c *Client) retryDelay(o outcome, failures *int) (time.Duration, bool) {
	var he *HTTPError
	if errors.As(o.err, &he) && he.permanent() {
		return 0, false
	}
	var ce *CloseError
	if errors.As(o.err, &ce) {
		switch ce.Code {
		case codePolicy, codeTooManySessions:
			return 0, false
		case codeTokenExpired:
			// At once, with a new token; but not in a tight loop if the new
			// tokens expire at once too (clock skew, a stale token source).
			if o.up > time.Second {
				return 0, true
			}
		case codeGoingAway:
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

func (c *Client) state(s State, err error) {
	if c.cfg.OnState != nil {
		c.cfg.OnState(s, err)
	}
}

// connect makes one connection to rawURL and serves it until it ends.
func (c *Client) connect(rawURL string) outcome {
	tok, err := c.cfg.Token(c.ctx)
	if err != nil {
		return outcome{err: fmt.Errorf("herald client: token: %w", err)}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return outcome{err: err} // checked by Dial already
	}
	q := u.Query()
	if c.cfg.Device != "" {
		q.Set("device", c.cfg.Device)
	}
	if since := c.LastOffset(); since != "" {
		q.Set("since", since)
	}
	u.RawQuery = q.Encode()

	ev := &events{c: c}
	ws, raw, err := c.handshake(u, tok, ev)
	if err != nil {
		return outcome{err: err}
	}
	start := time.Now()
	ev.ws = ws
	ev.lastRecv.Store(start.UnixNano())

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.keepalive(ws, raw, ev, stop)
	}()
	ws.ReadLoop() // calls the events on this goroutine until the connection ends
	close(stop)
	wg.Wait()

	c.mu.Lock()
	c.raw, c.ws, c.connected = nil, nil, false
	c.mu.Unlock()
	_ = raw.Close()
	return outcome{err: ev.closeErr, welcomed: ev.welcomed, up: time.Since(start)}
}

// handshake dials u and upgrades. On success the connection is registered in c (so
// that Close can close it); a refused upgrade is an *HTTPError.
func (c *Client) handshake(u *url.URL, token string, ev *events) (*gws.Conn, net.Conn, error) {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "wss" {
			port = "443"
		}
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	raw, err := c.cfg.Dialer(c.ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("herald client: dial %s: %w", addr, err)
	}
	// From here Close can abort the attempt by closing raw.
	c.mu.Lock()
	if c.ctx.Err() != nil {
		c.mu.Unlock()
		_ = raw.Close()
		return nil, nil, c.ctx.Err()
	}
	c.raw = raw
	c.mu.Unlock()
	fail := func(err error) (*gws.Conn, net.Conn, error) {
		c.mu.Lock()
		c.raw = nil
		c.mu.Unlock()
		_ = raw.Close()
		return nil, nil, err
	}

	conn := net.Conn(raw)
	if u.Scheme == "wss" {
		cfg := &tls.Config{}
		if c.cfg.TLS != nil {
			cfg = c.cfg.TLS.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(raw, cfg)
		hctx, cancel := context.WithTimeout(c.ctx, handshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			return fail(fmt.Errorf("herald client: tls %s: %w", addr, err))
		}
		conn = tc
	}

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
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return fail(httpError(resp))
		}
		if c.ctx.Err() != nil {
			return fail(c.ctx.Err())
		}
		return fail(fmt.Errorf("herald client: upgrade %s: %w", u.Redacted(), err))
	}
	c.mu.Lock()
	if c.ctx.Err() != nil {
		c.mu.Unlock()
		return fail(c.ctx.Err())
	}
	c.ws = ws
	c.mu.Unlock()
	return ws, raw, nil
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

// httpError reads a refused upgrade's status and JSON reason. The read is bounded
// by the handshake deadline gws left on the connection.
func httpError(resp *http.Response) *HTTPError {
	e := &HTTPError{Status: resp.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var v struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &v) == nil && v.Error != "" {
		e.Reason = v.Error
	} else {
		e.Reason = strings.TrimSpace(string(body))
	}
	if e.Reason == "" {
		e.Reason = http.StatusText(resp.StatusCode)
	}
	return e
}

// keepalive runs beside a connection's read loop: it sends the batched acks, pings
// the node and replaces a connection on which nothing arrived for too long.
func (c *Client) keepalive(ws *gws.Conn, raw net.Conn, ev *events, stop <-chan struct{}) {
	var ping <-chan time.Time
	var pinger *time.Timer
	if c.cfg.PingInterval > 0 {
		pinger = time.NewTimer(firstPing(c.cfg.PingInterval))
		defer pinger.Stop()
		ping = pinger.C
	}
	var ackTimer *time.Timer
	var ackDue <-chan time.Time
	defer func() {
		if ackTimer != nil {
			ackTimer.Stop()
		}
	}()
	var lastAck time.Time
	for {
		select {
		case <-stop:
			return
		case <-c.kick:
			if ackDue != nil {
				continue // a flush is scheduled; it sends the newest offsets
			}
			if wait := time.Until(lastAck.Add(ackEvery)); wait > 0 {
				ackTimer = time.NewTimer(wait)
				ackDue = ackTimer.C
				continue
			}
			c.flushAcks(ws)
			lastAck = time.Now()
		case <-ackDue:
			ackDue = nil
			c.flushAcks(ws)
			lastAck = time.Now()
		case <-ping:
			silent := time.Since(time.Unix(0, ev.lastRecv.Load()))
			if silent > 3*c.cfg.PingInterval {
				ev.killed.Store(&CloseError{Code: codeAbnormal, Reason: fmt.Sprintf("nothing from the node for %v", silent.Round(time.Second))})
				_ = raw.Close()
				return
			}
			_ = c.write(ws, gws.OpcodePing, nil)
			pinger.Reset(c.cfg.PingInterval)
		}
	}
}

// firstPing is when a new connection first pings: at a random point of the second
// half of the interval, then every interval. Clients that connected together (after
// a node failed) would otherwise ping together for as long as they live.
func firstPing(interval time.Duration) time.Duration {
	return interval/2 + rand.N(interval/2+1)
}

// flushAcks sends the pending acks, if ws is still the live connection.
func (c *Client) flushAcks(ws *gws.Conn) {
	c.mu.Lock()
	if c.liveLocked() != ws || (c.ackUser == "" && len(c.ackTopics) == 0) {
		c.mu.Unlock()
		return
	}
	user := c.ackUser
	topics := c.ackTopics
	c.ackUser, c.ackTopics = "", map[string]string{}
	c.mu.Unlock()
	if user != "" {
		if c.writeFrame(ws, outFrame{Type: "ack", Offset: user}) != nil {
			c.restoreAcks(user, topics)
			return
		}
	}
	for t, off := range topics {
		if c.writeFrame(ws, outFrame{Type: "ack", Topic: t, Offset: off}) != nil {
			c.restoreAcks("", topics)
			return
		}
		delete(topics, t)
	}
}

// restoreAcks puts back acks that could not be written, unless newer ones are
// pending; the next connection sends them.
func (c *Client) restoreAcks(user string, topics map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if offsetLess(c.ackUser, user) {
		c.ackUser = user
	}
	for t, off := range topics {
		if _, subscribed := c.topics[t]; subscribed && offsetLess(c.ackTopics[t], off) {
			c.ackTopics[t] = off
		}
	}
}

func (c *Client) kickAcks() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// events are the gws callbacks of one connection, all called on the run goroutine
// (ReadLoop runs there).
type events struct {
	c        *Client
	ws       *gws.Conn
	lastRecv atomic.Int64 // unix ns of the newest frame, ping or pong
	killed   atomic.Pointer[CloseError]
	closeErr *CloseError
	welcomed bool
}

func (e *events) OnOpen(*gws.Conn) {}

func (e *events) OnClose(_ *gws.Conn, err error) {
	var ce *gws.CloseError
	switch {
	case errors.As(err, &ce):
		e.closeErr = &CloseError{Code: ce.Code, Reason: string(ce.Reason)}
	case e.killed.Load() != nil:
		e.closeErr = e.killed.Load()
	case err == nil || err.Error() == "":
		e.closeErr = &CloseError{Code: codeAbnormal, Reason: "connection lost"}
	default:
		e.closeErr = &CloseError{Code: codeAbnormal, Reason: err.Error()}
	}
}

func (e *events) OnPing(ws *gws.Conn, payload []byte) {
	e.seen()
	_ = e.c.write(ws, gws.OpcodePong, payload)
}

func (e *events) OnPong(*gws.Conn, []byte) { e.seen() }

func (e *events) seen() { e.lastRecv.Store(time.Now().UnixNano()) }

// OnMessage splits a message into its frames: the node coalesces several, separated
// by "\n".
func (e *events) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	e.seen()
	if m.Opcode != gws.OpcodeText {
		return
	}
	b := m.Bytes()
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(bytes.TrimSpace(line)) > 0 {
			e.frame(line)
		}
	}
}

// inFrame is any server-to-client frame (PROTOCOL.md section 4).
type inFrame struct {
	Type     string          `json:"type"`
	Session  string          `json:"session"`
	Node     string          `json:"node"`
	ID       string          `json:"id"`
	Offset   string          `json:"offset"`
	To       string          `json:"to"`
	Topic    string          `json:"topic"`
	From     string          `json:"from"`
	TS       int64           `json:"ts"`
	Data     json.RawMessage `json:"data"` // both decoders copy it out of the pooled message
	Complete bool            `json:"complete"`
	Code     string          `json:"code"`
	Reason   string          `json:"reason"`
	Ref      string          `json:"ref"`
}

// frame handles one frame. Lines that are not JSON and unknown frame types are
// skipped: a newer node may send frames this client does not know.
func (e *events) frame(line []byte) {
	var f inFrame
	if !decodeFrame(line, &f) {
		f = inFrame{} // the fast path may have set fields before it gave up
		if json.Unmarshal(line, &f) != nil {
			return
		}
	}
	c := e.c
	switch f.Type {
	case "welcome":
		e.welcome(f)
	case "push":
		c.push(Push{ID: f.ID, Offset: f.Offset, To: f.To, Topic: f.Topic, From: f.From, TS: f.TS, Data: f.Data})
	case "recovered":
		if c.cfg.OnRecovered != nil {
			c.cfg.OnRecovered(f.To, f.Topic, f.Complete)
		}
	case "error":
		if c.cfg.OnError != nil {
			c.cfg.OnError(ServerError{Code: f.Code, Reason: f.Reason, Topic: f.Topic, Ref: f.Ref})
		}
	case "sent":
		if c.cfg.OnSent != nil {
			c.cfg.OnSent(f.Ref, f.ID)
		}
	case "subscribed":
		c.mu.Lock()
		if old, ok := c.topics[f.Topic]; ok && old == "" && f.Offset != "" {
			c.topics[f.Topic] = f.Offset // resume point before the topic's first push
		}
		c.mu.Unlock()
	}
}

// welcome makes the connection live: resubscribes the topics, sends pending acks.
func (e *events) welcome(f inFrame) {
	c := e.c
	c.subMu.Lock()
	c.mu.Lock()
	c.session, c.node = f.Session, f.Node
	c.connected = c.ws == e.ws
	if c.lastOffset == "" && f.Offset != "" {
		c.lastOffset = f.Offset // where this session starts: resume from here even before a push
	}
	subs := make([]outFrame, 0, len(c.topics))
	for t, since := range c.topics {
		subs = append(subs, outFrame{Type: "subscribe", Topic: t, Since: since})
	}
	c.mu.Unlock()
	for _, s := range subs {
		if c.writeFrame(e.ws, s) != nil {
			break // the connection is closing; the next one resubscribes
		}
	}
	c.subMu.Unlock()
	e.welcomed = true
	c.kickAcks()
	c.state(Connected, nil)
	c.readyOnce.Do(func() { close(c.ready) })
}

// push records the offset, drops a duplicate, and delivers.
func (c *Client) push(p Push) {
	key := "t\x00" + p.Topic
	c.mu.Lock()
	if p.To != "" {
		key = "u\x00" + p.To
		if offsetLess(c.lastOffset, p.Offset) {
			c.lastOffset = p.Offset
		}
	} else if old, ok := c.topics[p.Topic]; ok && offsetLess(old, p.Offset) {
		c.topics[p.Topic] = p.Offset
	}
	c.mu.Unlock()
	if c.seen.add(key + "\x00" + p.ID) {
		if c.cfg.OnPush != nil {
			c.cfg.OnPush(p)
		}
	}
	if !c.cfg.AutoAck || p.Offset == "" {
		return
	}
	c.mu.Lock()
	if p.To != "" {
		if offsetLess(c.ackUser, p.Offset) {
			c.ackUser = p.Offset
		}
	} else if _, ok := c.topics[p.Topic]; ok && offsetLess(c.ackTopics[p.Topic], p.Offset) {
		c.ackTopics[p.Topic] = p.Offset
	}
	c.mu.Unlock()
	c.kickAcks()
}
