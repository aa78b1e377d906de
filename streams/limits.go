package streams

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// acquireScript counts a user's sessions over every node's field and takes one more
// only below the limit; one key, so it is atomic on Redis Cluster too.
var acquireScript = redis.NewScript(`
local total = 0
for _, v in ipairs(redis.call('hvals', KEYS[1])) do total = total + tonumber(v) end
if total >= tonumber(ARGV[2]) then return 0 end
redis.call('hincrby', KEYS[1], ARGV[1], 1)
return 1`)

// releaseSlotsScript gives n sessions back and drops the field at zero.
var releaseSlotsScript = redis.NewScript(`
local left = redis.call('hincrby', KEYS[1], ARGV[1], -tonumber(ARGV[2]))
if left <= 0 then redis.call('hdel', KEYS[1], ARGV[1]) end
return left`)

// SessionLimit enforces limits.max_sessions_per_user across the cluster with a
// per-user hash of node -> open sessions. Releases are batched per user.
type SessionLimit struct {
	rdb     redis.UniversalClient
	keys    Keys
	node    string
	limit   int
	metrics *Metrics

	mu      sync.Mutex
	pending map[string]int // user -> sessions to give back
	wake    chan struct{}  // a release is waiting: a reconnecting client must find the slot free
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// NewSessionLimit returns the limiter; limit 0 means none (Acquire always succeeds
// without touching Redis).
func NewSessionLimit(rdb redis.UniversalClient, keys Keys, node string, limit int, m *Metrics) *SessionLimit {
	return &SessionLimit{rdb: rdb, keys: keys, node: node, limit: limit, metrics: m,
		pending: make(map[string]int), wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// Enabled reports whether there is a limit.
func (l *SessionLimit) Enabled() bool { return l.limit > 0 }

// Acquire takes a session slot for user; false means the user is at the limit.
func (l *SessionLimit) Acquire(ctx context.Context, user string) (bool, error) {
	if l.limit <= 0 {
		return true, nil
	}
	n, err := acquireScript.Run(ctx, l.rdb, []string{l.keys.Sessions(user)}, l.node, l.limit).Int()
	if err != nil {
		l.metrics.RedisErrors.WithLabelValues("session_limit").Inc()
		return false, fmt.Errorf("streams: count sessions of %s: %w", user, err)
	}
	if n == 0 {
		l.metrics.LimitRefused.Inc()
	}
	return n == 1, nil
}

// Release gives a slot back; it is written with the next batch.
func (l *SessionLimit) Release(user string) {
	if l.limit <= 0 {
		return
	}
	l.mu.Lock()
	l.pending[user]++
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Start runs the release writer.
func (l *SessionLimit) Start() {
	go func() {
		defer close(l.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				l.flush(context.Background())
			case <-l.wake:
				l.flush(context.Background())
			case <-l.stop:
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				l.flush(ctx)
				cancel()
				return
			}
		}
	}()
}

// Stop writes the pending releases and ends the writer. Idempotent.
func (l *SessionLimit) Stop(ctx context.Context) {
	l.once.Do(func() { close(l.stop) })
	select {
	case <-l.done:
	case <-ctx.Done():
	}
}

func (l *SessionLimit) flush(ctx context.Context) {
	l.mu.Lock()
	batch := l.pending
	if len(batch) == 0 {
		l.mu.Unlock()
		return
	}
	l.pending = make(map[string]int, len(batch))
	l.mu.Unlock()
	_, err := l.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for user, n := range batch {
			releaseSlotsScript.Eval(ctx, pipe, []string{l.keys.Sessions(user)}, l.node, n)
		}
		return nil
	})
	if err == nil {
		return
	}
	l.metrics.RedisErrors.WithLabelValues("session_limit").Inc()
	l.mu.Lock()
	for user, n := range batch {
		l.pending[user] += n
	}
	l.mu.Unlock()
}
