package actors

import (
	"context"
	"time"
)

// retry runs f until it succeeds or ctx ends, with capped backoff: a session waits
// out a Redis outage instead of failing. It reports whether f succeeded.
func retry(ctx context.Context, f func() error) bool {
	wait := 50 * time.Millisecond
	for {
		if f() == nil {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		if wait *= 2; wait > 2*time.Second {
			wait = 2 * time.Second
		}
	}
}
