package streams

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// maxPendingCursors bounds the cursor updates waiting for a flush. Updates coalesce
// per device, so the bound is only reached with that many devices acking within one
// flush interval; past it updates are dropped and counted (the next ack repairs it).
const maxPendingCursors = 100_000

type deviceKey struct{ user, device string }

// Cursors stores each device's last acked offset (herald:{u:<id>}:c), in batches.
type Cursors struct {
	rdb     redis.UniversalClient
	reads   *Reads // Get's reads, in pipelines shared with other sessions
	keys    Keys
	every   time.Duration
	metrics *Metrics

	mu       sync.Mutex
	pending  map[deviceKey]wire.Offset
	inflight map[deviceKey]wire.Offset // being written; Get still sees them
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

// NewCursors returns the cursor store; Start runs its flusher every interval.
func NewCursors(rdb redis.UniversalClient, reads *Reads, keys Keys, every time.Duration, m *Metrics) *Cursors {
	return &Cursors{
		rdb: rdb, reads: reads, keys: keys, every: every, metrics: m,
		pending: make(map[deviceKey]wire.Offset),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// Set records that user's device handled everything up to o. Older offsets than
// one already pending are ignored: acks may arrive out of order.
func (c *Cursors) Set(user, device string, o wire.Offset) {
	k := deviceKey{user, device}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.pending[k]; ok {
		if cur.Less(o) {
			c.pending[k] = o
		}
		return
	}
	if len(c.pending) >= maxPendingCursors {
		c.metrics.CursorDrops.Inc()
		return
	}
	c.pending[k] = o
}

// Get is the device's last acked offset; ok is false when it has none.
func (c *Cursors) Get(ctx context.Context, user, device string) (wire.Offset, bool, error) {
	c.mu.Lock()
	o, ok := c.pending[deviceKey{user, device}]
	if !ok {
		o, ok = c.inflight[deviceKey{user, device}]
	}
	c.mu.Unlock()
	if ok {
		return o, true, nil
	}
	cmd := redis.NewStringCmd(ctx, "hget", c.keys.Cursors(user), device)
	err := c.reads.Do(ctx, cmd)
	s := cmd.Val()
	if errors.Is(err, redis.Nil) {
		return wire.Offset{}, false, nil
	}
	if err != nil {
		c.metrics.RedisErrors.WithLabelValues("cursor_get").Inc()
		return wire.Offset{}, false, fmt.Errorf("streams: cursor of %s/%s: %w", user, device, err)
	}
	o, err = wire.ParseOffset(s)
	return o, err == nil, nil
}

// Start runs the flusher until Stop.
func (c *Cursors) Start() { go c.run() }

// Stop flushes what is pending (bounded by ctx) and ends the flusher. Idempotent.
func (c *Cursors) Stop(ctx context.Context) {
	c.once.Do(func() { close(c.stop) })
	select {
	case <-c.done:
	case <-ctx.Done():
	}
}

func (c *Cursors) run() {
	defer close(c.done)
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.flush(context.Background())
		case <-c.stop:
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			c.flush(ctx)
			cancel()
			return
		}
	}
}

func (c *Cursors) flush(ctx context.Context) {
	c.mu.Lock()
	batch := c.pending
	if len(batch) == 0 {
		c.mu.Unlock()
		return
	}
	c.pending = make(map[deviceKey]wire.Offset, len(batch))
	c.inflight = batch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inflight = nil
		c.mu.Unlock()
	}()
	_, err := c.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for k, o := range batch {
			pipe.HSet(ctx, c.keys.Cursors(k.user), k.device, o.String())
		}
		return nil
	})
	if err == nil {
		return
	}
	c.metrics.RedisErrors.WithLabelValues("cursor_set").Inc()
	for k, o := range batch { // keep them for the next flush unless newer ones came
		c.Set(k.user, k.device, o)
	}
}
