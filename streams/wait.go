package streams

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotReplicated: Redis took the writes but fewer replicas than
// redis.wait_replicas confirmed them within redis.wait_timeout. A failover now
// could lose them, so nothing that depends on them is acknowledged.
var ErrNotReplicated = errors.New("streams: writes not confirmed by enough replicas")

// replicaWait is redis.wait_replicas and redis.wait_timeout.
type replicaWait struct {
	n       int // 0: no WAIT
	timeout time.Duration
}

// queue adds WAIT to pipe, after every write queued on it. WAIT counts the
// replicas that have every write this connection sent before it, and a
// standalone or Sentinel client sends one pipeline on one connection, so this
// covers exactly the pipeline's writes (and older ones of the connection). Writes
// of an earlier pipeline may have gone on another pooled connection: each
// pipeline carries its own WAIT (ARCHITECTURE.md "WAIT for replicas"). nil when
// wait_replicas is 0.
//
// The pipeline's read deadline is the client's ReadTimeout, which Connect sets
// above wait_timeout.
func (w replicaWait) queue(ctx context.Context, pipe redis.Pipeliner) *redis.Cmd {
	if w.n <= 0 {
		return nil
	}
	return pipe.Do(ctx, "wait", w.n, w.timeout.Milliseconds())
}

// done checks a WAIT's reply: nil when enough replicas confirmed (or there was no
// WAIT), an error wrapping ErrNotReplicated when too few did.
func (w replicaWait) done(c *redis.Cmd) error {
	if c == nil {
		return nil
	}
	n, err := c.Int64()
	if err != nil {
		return fmt.Errorf("streams: wait for %d replicas: %w", w.n, err)
	}
	if n < int64(w.n) {
		return fmt.Errorf("streams: wait for %d replicas: %d confirmed within %v: %w", w.n, n, w.timeout, ErrNotReplicated)
	}
	return nil
}
