package actors

import (
	"context"
	"testing"
)

// retry calls f again after each failure until it succeeds.
func TestRetryWaitsOutFailures(t *testing.T) {
	calls := 0
	ok := retry(context.Background(), func() error {
		if calls++; calls < 3 {
			return errRedis
		}
		return nil
	})
	if !ok || calls != 3 {
		t.Fatalf("retry = %v after %d calls, want true after 3", ok, calls)
	}
}

// retry gives up, reporting failure, once its context ends: a session that
// stopped stops waiting for Redis.
func TestRetryStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	ok := retry(ctx, func() error {
		if calls++; calls == 2 {
			cancel()
		}
		return errRedis
	})
	if ok || calls != 2 {
		t.Fatalf("retry = %v after %d calls, want false after 2", ok, calls)
	}
}
