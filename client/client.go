package client

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/lxzan/gws"
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

	pending map[string]chan answer // requests (Register, ...) waiting for their answer, by ref
	reqSeq  uint64                 // numbers the refs of requests

	// seen is used by the run goroutine only.
	seen *dedupe
}

// Dial starts a client and returns once the node's welcome arrived. Until then it
// retries failed attempts with backoff, over all URLs, until ctx ends; a refusal
// with a 4xx status (401, 403, 400) is returned at once as an *HTTPError and not
// retried. ctx bounds Dial only: the client lives until Close (its callbacks and
// Token get a context that keeps ctx's values).
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	c, err := newClient(ctx, cfg)
	if err != nil {
		return nil, err
	}
	go c.run()
	return c.awaitWelcome(ctx)
}

func newClient(ctx context.Context, cfg Config) (*Client, error) {
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
		pending:   map[string]chan answer{},
		seen:      newDedupe(cfg.DedupeWindow),
		// The first connection resumes from Since as later ones do from the
		// newest offset seen.
		lastOffset: cfg.Since,
	}
	// The client outlives Dial's ctx but keeps its values (trace ids, ...).
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	return c, nil
}

// awaitWelcome waits for the first welcome, for the client to stop by itself (a
// permanent refusal), or for ctx to end, which closes the client.
func (c *Client) awaitWelcome(ctx context.Context) (*Client, error) {
	select {
	case <-c.ready:
		return c, nil
	case <-c.done: // stopped by itself: run cancelled c.ctx
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
