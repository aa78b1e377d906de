// Package client is a Go client of Herald's WebSocket protocol (wire contract v1),
// for services, tests and the bench suite.
//
// Dial connects and returns after the first welcome frame. From then on the client
// keeps itself connected until Close: after a disconnect it reconnects (to the next
// URL, with backoff) with ?since=<LastOffset()>, so that the node replays what it
// missed, resubscribes its topics with their last offsets, and drops duplicate
// pushes by message id. Close codes are handled as PROTOCOL.md section 6 says.
//
// Before its first push a client resumes from the offset of the node's welcome
// frame (where its session started), and a topic from the offset of its subscribed
// frame, so a disconnect loses nothing even before anything arrived.
//
//	c, err := client.Dial(ctx, client.Config{
//		URLs:   []string{"ws://node-a:8080/ws", "ws://node-b:8080/ws"},
//		Token:  func(ctx context.Context) (string, error) { return mintToken(ctx, "alice") },
//		OnPush: func(p client.Push) { handle(p) },
//	})
//	...
//	defer c.Close()
//
// Callbacks (OnPush, OnRecovered, OnState, OnError, OnSent) are all called from one
// goroutine, the one that reads the connection, in the order of the frames. They must
// return quickly: while one runs, nothing is read from the node (and a node cuts off
// a session that falls too far behind, close code 4008). Hand long work to another
// goroutine. A callback must not call Close (it waits for that goroutine); call
// `go c.Close()` there instead. The other methods may be called from callbacks.
package client

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lxzan/gws"
)

// Push is one message delivered to this client: a push frame (PROTOCOL.md section 4).
type Push struct {
	ID     string          // message id: the publisher's id, or the ingress entry id
	Offset string          // position in the recipient's history stream
	To     string          // the user it was addressed to ("" for a topic push)
	Topic  string          // the topic it was published to ("" for a user push)
	From   string          // the sender's user id, when the publish had one
	TS     int64           // publish time, unix ms
	Data   json.RawMessage // the payload, as published; the client does not reuse it
}

// State is the connection state reported to Config.OnState.
type State int

const (
	// Connecting: an attempt to connect starts (error nil).
	Connecting State = iota + 1
	// Connected: the node's welcome arrived (error nil).
	Connected
	// Disconnected: a connection ended, or an attempt failed, and the client will
	// try again. The error says why: a *CloseError (with the close code; 1006 when
	// the connection dropped without a close frame), an *HTTPError (e.g. 503), or a
	// dial or token error.
	Disconnected
	// Closed: the client stopped for good. The error is nil after Close, or the
	// reason it will not retry: a *CloseError with 4003 or 4009, or an *HTTPError
	// with a 4xx status (401, 403, 400, ...).
	Closed
)

func (s State) String() string {
	switch s {
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	case Disconnected:
		return "disconnected"
	case Closed:
		return "closed"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Backoff bounds the delays between reconnection attempts. The n-th delay after a
// failure is random in [0, min(Max, Min*2^n)] ("full jitter").
type Backoff struct {
	Min time.Duration // default 100 ms
	Max time.Duration // default 5 s; also the bound of the random delay after a 1001
}

// Config configures a Client. URLs and Token are required.
type Config struct {
	// URLs of the nodes' WebSocket endpoint, e.g. "ws://127.0.0.1:8080/ws" or
	// "wss://push.example.com/ws". The first connection goes to URLs[0]; every
	// reconnection attempt goes to the next one, round robin.
	URLs []string
	// Token returns the JWT for a connection. It is called before every connection
	// attempt, so after a 4001 (token expired) it must return a fresh one. ctx ends
	// when the client is closed. It is sent as "Authorization: Bearer <jwt>".
	Token func(ctx context.Context) (string, error)
	// Device is sent as ?device= (used by the node when the token has no device
	// claim): acks are then stored as this device's cursor.
	Device string

	// OnPush receives every push once (duplicates by message id dropped), in the
	// order the node sent them.
	OnPush func(Push)
	// OnRecovered is called when a replay from history ends; complete is false when
	// history no longer held everything after the offset the client resumed from.
	// Exactly one of to and topic is set.
	OnRecovered func(to, topic string, complete bool)
	// OnState reports connection state changes; see State.
	OnState func(State, error)
	// OnError receives the node's error frames (the session stays open).
	OnError func(ServerError)
	// OnSent receives the node's answer to Send and Publish: the request's ref and
	// the id of the stored stream entry.
	OnSent func(ref, id string)

	// Backoff of reconnection attempts.
	Backoff Backoff
	// DedupeWindow is how many message ids (per recipient) are remembered to drop
	// duplicates. Default 10,000; negative: no deduplication.
	DedupeWindow int
	// AutoAck acks pushes once OnPush returned. Acks are batched: at most one
	// round every 100 ms, with one ack frame per stream (the user's, each topic's)
	// carrying the newest offset.
	AutoAck bool
	// PingInterval is how often the client pings the node. A connection on which
	// nothing (frame, ping or pong) arrived for three intervals is considered dead
	// and replaced. Default 15 s; negative: no pings and no such check (the client
	// still answers the node's pings).
	PingInterval time.Duration
	// Dialer opens the TCP connection, e.g. (&net.Dialer{LocalAddr: a}).DialContext
	// to bind a source address. It must return when ctx ends (Close waits for it).
	// Default: a net.Dialer with a 10 s timeout.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLS configures wss:// connections (default: the system roots, ServerName from
	// the URL).
	TLS *tls.Config
}

// CloseError is why a connection ended: the close frame's code and reason, or 1006
// and the I/O error when it ended without one.
type CloseError struct {
	Code   uint16
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("herald client: connection closed with code %d", e.Code)
	}
	return fmt.Sprintf("herald client: connection closed with code %d: %s", e.Code, e.Reason)
}

// HTTPError is a refused WebSocket upgrade: the HTTP status and the reason from the
// node's JSON body {"error":"..."} (or the body's text).
type HTTPError struct {
	Status int
	Reason string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("herald client: upgrade refused with HTTP %d: %s", e.Status, e.Reason)
}

// permanent reports whether retrying cannot help: a 4xx other than 408 and 429.
func (e *HTTPError) permanent() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != 408 && e.Status != 429
}

// ServerError is an error frame: the node could not serve a request (PROTOCOL.md
// section 4). Topic or Ref name the request when it had one.
type ServerError struct {
	Code   string // bad_frame, forbidden, rate_limited, limit, unavailable, ...
	Reason string
	Topic  string
	Ref    string
}

func (e ServerError) Error() string {
	s := "herald: " + e.Code + ": " + e.Reason
	if e.Ref != "" {
		s += " (ref " + e.Ref + ")"
	}
	if e.Topic != "" {
		s += " (topic " + e.Topic + ")"
	}
	return s
}

var (
	// ErrClosed is returned by the methods of a closed client.
	ErrClosed = errors.New("herald client: closed")
	// ErrNotConnected is returned by Ack, Send and Publish while the client is
	// between connections.
	ErrNotConnected = errors.New("herald client: not connected")
)

const (
	defaultBackoffMin   = 100 * time.Millisecond
	defaultBackoffMax   = 5 * time.Second
	defaultDedupeWindow = 10_000
	defaultPingInterval = 15 * time.Second
	dialTimeout         = 10 * time.Second
	handshakeTimeout    = 10 * time.Second
	writeTimeout        = 10 * time.Second
	closeWriteTimeout   = time.Second
	ackEvery            = 100 * time.Millisecond
	stableAfter         = 10 * time.Second // a connection up this long resets the backoff
	maxMessageBytes     = 16 << 20
)

// Client is a connection to Herald that reconnects by itself. Its methods are safe
// for concurrent use.
type Client struct {
	cfg    Config
	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	ready  chan struct{} // closed at the first welcome
	done   chan struct{} // closed when the run goroutine has stopped
	kick   chan struct{} // an ack is pending

	readyOnce sync.Once
	closeOnce sync.Once

	subMu sync.Mutex // orders subscribe/unsubscribe frames with the resubscription after a welcome
	wmu   sync.Mutex // one writer at a time: each write sets the connection's write deadline

	mu         sync.Mutex
	raw        net.Conn  // the current TCP connection, from dial until it is closed
	ws         *gws.Conn // the current WebSocket, from the handshake until it is closed
	connected  bool      // ws got its welcome
	session    string
	node       string
	lastOffset string            // newest user-stream offset seen
	topics     map[string]string // subscribed topics: the newest offset seen ("" = none yet)
	ackUser    string            // pending acks (AutoAck)
	ackTopics  map[string]string
	lastErr    error // why the newest attempt or connection ended
	finalErr   error // why the client stopped by itself

	// seen is used by the run goroutine only.
	seen *dedupe
}

// Dial starts a client and returns once the node's welcome arrived. Until then it
// retries failed attempts with backoff, over all URLs, until ctx ends; a refusal
// with a 4xx status (401, 403, 400) is returned at once as an *HTTPError and not
// retried. ctx bounds Dial only: the client lives until Close (its callbacks and
// Token get a context that keeps ctx's values).
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:       cfg,
		ready:     make(chan struct{}),
		done:      make(chan struct{}),
		kick:      make(chan struct{}, 1),
		topics:    map[string]string{},
		ackTopics: map[string]string{},
		seen:      newDedupe(cfg.DedupeWindow),
	}
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go c.run()
	select {
	case <-c.ready:
		return c, nil
	case <-c.done:
		c.cancel()
		c.mu.Lock()
		err := c.finalErr
		c.mu.Unlock()
		if err == nil {
			err = ErrClosed
		}
		return nil, err
	case <-ctx.Done():
		c.mu.Lock()
		last := c.lastErr
		c.mu.Unlock()
		_ = c.Close()
		if last != nil {
			return nil, fmt.Errorf("herald client: dial: %w (last attempt: %v)", ctx.Err(), last)
		}
		return nil, fmt.Errorf("herald client: dial: %w", ctx.Err())
	}
}

func (cfg Config) withDefaults() (Config, error) {
	if len(cfg.URLs) == 0 {
		return cfg, errors.New("herald client: Config.URLs is empty")
	}
	for _, s := range cfg.URLs {
		u, err := url.Parse(s)
		if err != nil {
			return cfg, fmt.Errorf("herald client: bad URL %q: %w", s, err)
		}
		if u.Scheme != "ws" && u.Scheme != "wss" {
			return cfg, fmt.Errorf("herald client: URL %q: the scheme must be ws or wss", s)
		}
	}
	cfg.URLs = append([]string(nil), cfg.URLs...)
	if cfg.Token == nil {
		return cfg, errors.New("herald client: Config.Token is required")
	}
	if cfg.Backoff.Min <= 0 {
		cfg.Backoff.Min = defaultBackoffMin
	}
	if cfg.Backoff.Max <= 0 {
		cfg.Backoff.Max = defaultBackoffMax
	}
	if cfg.Backoff.Max < cfg.Backoff.Min {
		cfg.Backoff.Max = cfg.Backoff.Min
	}
	if cfg.DedupeWindow == 0 {
		cfg.DedupeWindow = defaultDedupeWindow
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = defaultPingInterval
	}
	if cfg.Dialer == nil {
		cfg.Dialer = (&net.Dialer{Timeout: dialTimeout}).DialContext
	}
	return cfg, nil
}

// Close stops the client: it closes the connection (code 1000), stops reconnecting
// and returns when all of the client's goroutines have stopped. Idempotent. It must
// not be called from a callback.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.cancel()
		c.mu.Lock()
		raw, ws := c.raw, c.ws
		c.mu.Unlock()
		switch {
		case ws != nil:
			// Cuts a write that blocks on a node that stopped reading, then sends
			// the close frame under the same bound; gws closes the socket after it.
			_ = raw.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
			c.wmu.Lock()
			_ = ws.WriteClose(1000, nil)
			c.wmu.Unlock()
			_ = raw.Close()
		case raw != nil:
			_ = raw.Close() // still in the handshake
		}
	})
	<-c.done
	return nil
}

// LastOffset is the newest user-stream offset seen: the since of the next connection.
func (c *Client) LastOffset() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastOffset
}

// Session returns the session id and node id of the newest welcome.
func (c *Client) Session() (id, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session, c.node
}

// outFrame is a client-to-server frame (PROTOCOL.md section 5).
type outFrame struct {
	Type   string          `json:"type"`
	Topic  string          `json:"topic,omitempty"`
	Since  string          `json:"since,omitempty"`
	Offset string          `json:"offset,omitempty"`
	Ref    string          `json:"ref,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// Ack tells the node that the client handled the user stream up to offset: it
// counts as delivered and, for a session with a device, becomes the device's cursor.
func (c *Client) Ack(offset string) error {
	if offset == "" {
		return errors.New("herald client: ack needs an offset")
	}
	return c.send(outFrame{Type: "ack", Offset: offset})
}

// Subscribe joins topic; with since, the node replays the topic's history after it
// first. The client remembers the topic and resubscribes after every reconnection,
// from the newest offset it saw on the topic. While disconnected, the frame is sent
// on the next connection. The node answers with a subscribed or an error frame
// (OnError); a refused topic stays remembered until Unsubscribe.
func (c *Client) Subscribe(topic, since string) error {
	if topic == "" {
		return errors.New("herald client: subscribe needs a topic")
	}
	c.subMu.Lock()
	defer c.subMu.Unlock()
	c.mu.Lock()
	if old, ok := c.topics[topic]; !ok || since != "" || old == "" {
		c.topics[topic] = since
	}
	ws := c.liveLocked()
	closed := c.ctx.Err() != nil
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if ws == nil {
		return nil
	}
	return c.writeFrame(ws, outFrame{Type: "subscribe", Topic: topic, Since: since})
}

// Unsubscribe leaves topic and forgets it.
func (c *Client) Unsubscribe(topic string) error {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	c.mu.Lock()
	delete(c.topics, topic)
	delete(c.ackTopics, topic)
	ws := c.liveLocked()
	closed := c.ctx.Err() != nil
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if ws == nil {
		return nil
	}
	return c.writeFrame(ws, outFrame{Type: "unsubscribe", Topic: topic})
}

// Send sends data (marshalled with encoding/json) upstream, to the product's
// backend; the node answers OnSent(ref, id) once it is stored, or OnError.
func (c *Client) Send(ref string, data any) error {
	raw, err := upstreamData(ref, data)
	if err != nil {
		return err
	}
	return c.send(outFrame{Type: "send", Ref: ref, Data: raw})
}

// Publish publishes data (marshalled with encoding/json) to topic, where the topic
// policy allows it; the node answers OnSent(ref, id) or OnError.
func (c *Client) Publish(topic, ref string, data any) error {
	if topic == "" {
		return errors.New("herald client: publish needs a topic")
	}
	raw, err := upstreamData(ref, data)
	if err != nil {
		return err
	}
	return c.send(outFrame{Type: "publish", Topic: topic, Ref: ref, Data: raw})
}

func upstreamData(ref string, data any) (json.RawMessage, error) {
	if ref == "" {
		return nil, errors.New("herald client: a ref is required")
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("herald client: data: %w", err)
	}
	if string(raw) == "null" {
		return nil, errors.New("herald client: data is required")
	}
	return raw, nil
}

// send writes f on the current connection.
func (c *Client) send(f outFrame) error {
	c.mu.Lock()
	ws := c.liveLocked()
	closed := c.ctx.Err() != nil
	c.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case ws == nil:
		return ErrNotConnected
	}
	return c.writeFrame(ws, f)
}

// liveLocked returns the connection that got its welcome, or nil.
func (c *Client) liveLocked() *gws.Conn {
	if c.connected {
		return c.ws
	}
	return nil
}

func (c *Client) writeFrame(ws *gws.Conn, f outFrame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("herald client: %w", err)
	}
	return c.write(ws, gws.OpcodeText, b)
}

// write writes one message with a deadline. A failed write closes the connection
// (gws does that), and the client reconnects.
func (c *Client) write(ws *gws.Conn, op gws.Opcode, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := ws.WriteMessage(op, b); err != nil {
		return fmt.Errorf("herald client: write: %w", err)
	}
	return nil
}

// offsetLess reports whether stream entry id a ("<ms>-<seq>") is before b; "" is
// before everything. Ids that do not parse compare as text.
func offsetLess(a, b string) bool {
	if a == "" {
		return b != ""
	}
	am, as, aok := splitOffset(a)
	bm, bs, bok := splitOffset(b)
	if !aok || !bok {
		return a < b
	}
	return am < bm || (am == bm && as < bs)
}

func splitOffset(s string) (ms, seq uint64, ok bool) {
	m, q, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	ms, err1 := strconv.ParseUint(m, 10, 64)
	seq, err2 := strconv.ParseUint(q, 10, 64)
	return ms, seq, err1 == nil && err2 == nil
}

// dedupe is a bounded set of keys, forgetting the oldest first.
type dedupe struct {
	set  map[string]struct{}
	ring []string
	next int
}

func newDedupe(size int) *dedupe {
	if size <= 0 {
		return nil
	}
	return &dedupe{set: make(map[string]struct{}, size), ring: make([]string, size)}
}

// add reports whether k is new, remembering it.
func (d *dedupe) add(k string) bool {
	if d == nil {
		return true
	}
	if _, ok := d.set[k]; ok {
		return false
	}
	if old := d.ring[d.next]; old != "" {
		delete(d.set, old)
	}
	d.ring[d.next] = k
	d.next = (d.next + 1) % len(d.ring)
	d.set[k] = struct{}{}
	return true
}
