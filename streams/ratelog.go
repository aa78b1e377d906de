package streams

import (
	"log/slog"
	"sync"
	"time"
)

// rateLog logs a repeated failure at most once per interval per key, so that a Redis
// outage yields a line every few seconds instead of one per retry.
type rateLog struct {
	log   *slog.Logger
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
}

func newRateLog(log *slog.Logger, every time.Duration) *rateLog {
	return &rateLog{log: log, every: every, last: make(map[string]time.Time)}
}

func (r *rateLog) warn(key string, err error, attrs ...any) {
	now := time.Now()
	r.mu.Lock()
	if now.Sub(r.last[key]) < r.every {
		r.mu.Unlock()
		return
	}
	r.last[key] = now
	r.mu.Unlock()
	r.log.Warn(key, append(attrs, "err", err)...)
}
