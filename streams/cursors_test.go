package streams_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

func startCursors(t *testing.T, e *env, every time.Duration) (*streams.Cursors, func()) {
	t.Helper()
	c := streams.NewCursors(e.rdb, e.reads(t), e.keys, every, e.metrics)
	c.Start()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Stop(ctx)
	}
	t.Cleanup(stop)
	return c, stop
}

func hget(t *testing.T, e *env, key, field string) (string, bool) {
	t.Helper()
	s, err := e.rdb.HGet(testCtx(t), key, field).Result()
	if errors.Is(err, redis.Nil) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return s, true
}

func mustGet(t *testing.T, c *streams.Cursors, user, device string) (wire.Offset, bool) {
	t.Helper()
	o, ok, err := c.Get(testCtx(t), user, device)
	if err != nil {
		t.Fatalf("Get(%s, %s): %v", user, device, err)
	}
	return o, ok
}

// A cursor is visible to Get at once, written to Redis in the next flush or at Stop.
func TestCursorsPendingThenPersisted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, stop := startCursors(t, e, time.Hour) // no periodic flush during the test
	if _, ok := mustGet(t, c, "alice", "phone"); ok {
		t.Fatal("a cursor for a device that never acked")
	}
	c.Set("alice", "phone", wire.MustOffset("1700000000000-5"))
	if o, ok := mustGet(t, c, "alice", "phone"); !ok || o.String() != "1700000000000-5" {
		t.Fatalf("Get before flush = %v, %v", o, ok)
	}
	if _, ok := hget(t, e, "herald:{u:alice}:c", "phone"); ok {
		t.Fatal("written to Redis before a flush")
	}
	stop()
	stop() // idempotent
	if s, ok := hget(t, e, "herald:{u:alice}:c", "phone"); !ok || s != "1700000000000-5" {
		t.Fatalf("after Stop Redis holds %q, %v", s, ok)
	}
	// A new store (the next process) reads it from Redis.
	c2, _ := startCursors(t, e, time.Hour)
	if o, ok := mustGet(t, c2, "alice", "phone"); !ok || o.String() != "1700000000000-5" {
		t.Fatalf("Get from Redis = %v, %v", o, ok)
	}
	if _, ok := mustGet(t, c2, "alice", "laptop"); ok {
		t.Fatal("another device shares the cursor")
	}
	if _, ok := mustGet(t, c2, "bob", "phone"); ok {
		t.Fatal("another user shares the cursor")
	}
}

// Acks may arrive out of order: an older offset than the pending one is ignored.
func TestCursorsOlderOffsetIgnored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, stop := startCursors(t, e, time.Hour)
	steps := []struct {
		set, want string
	}{
		{"10-0", "10-0"},
		{"5-0", "10-0"},
		{"9-99", "10-0"},
		{"10-0", "10-0"},
		{"10-1", "10-1"},
		{"11-0", "11-0"},
		{"0-0", "11-0"},
	}
	for _, s := range steps {
		c.Set("alice", "phone", wire.MustOffset(s.set))
		if o, _ := mustGet(t, c, "alice", "phone"); o.String() != s.want {
			t.Fatalf("after Set(%s) Get = %v, want %s", s.set, o, s.want)
		}
	}
	c.Set("alice", "tablet", wire.MustOffset("3-0"))
	stop()
	if s, _ := hget(t, e, "herald:{u:alice}:c", "phone"); s != "11-0" {
		t.Fatalf("persisted %q, want 11-0", s)
	}
	if s, _ := hget(t, e, "herald:{u:alice}:c", "tablet"); s != "3-0" {
		t.Fatalf("tablet persisted %q, want 3-0", s)
	}
}

// The flusher writes on its own, every interval.
func TestCursorsFlushPeriodically(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, _ := startCursors(t, e, 20*time.Millisecond)
	for i := 0; i < 50; i++ {
		c.Set(fmt.Sprint("user", i), "d", wire.Offset{Ms: uint64(i + 1)})
	}
	testkit.Eventually(t, waitLong, func() error {
		for i := 0; i < 50; i++ {
			s, err := e.rdb.HGet(testCtx(t), fmt.Sprintf("herald:{u:user%d}:c", i), "d").Result()
			if err != nil || s != fmt.Sprintf("%d-0", i+1) {
				return fmt.Errorf("user%d cursor %q, %v", i, s, err)
			}
		}
		return nil
	})
	// After the flush Get reads Redis.
	if o, ok := mustGet(t, c, "user7", "d"); !ok || o.String() != "8-0" {
		t.Fatalf("Get after flush = %v, %v", o, ok)
	}
}

// A stored value that is not an offset reads as no cursor, not an error.
func TestCursorsCorruptValue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.rdb.HSet(testCtx(t), "herald:{u:alice}:c", "phone", "garbage").Err(); err != nil {
		t.Fatal(err)
	}
	c, _ := startCursors(t, e, time.Hour)
	if o, ok := mustGet(t, c, "alice", "phone"); ok || !o.IsZero() {
		t.Fatalf("Get of a corrupt cursor = %v, %v", o, ok)
	}
}

// A failed flush keeps the cursors for the next one.
func TestCursorsSurviveRedisOutage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.withoutRetries(t)
	srv := e.srv
	c, _ := startCursors(t, e, 50*time.Millisecond)
	srv.Kill()
	c.Set("alice", "phone", wire.MustOffset("7-7"))
	testkit.Eventually(t, waitLong, func() error {
		if n := counter(t, e.metrics.RedisErrors.WithLabelValues("cursor_set")); n < 1 {
			return fmt.Errorf("no failed flush yet")
		}
		return nil
	})
	srv.Restart(t)
	testkit.Eventually(t, waitLong, func() error {
		s, err := e.rdb.HGet(testCtx(t), "herald:{u:alice}:c", "phone").Result()
		if err != nil || s != "7-7" {
			return fmt.Errorf("cursor %q, %v", s, err)
		}
		return nil
	})
}

// Get must see the newest Set even while a flush of it is in flight: between the
// flusher taking the pending map and its HSETs landing, Get finds the cursor in
// neither place and reads an older value (or none) from Redis.
func TestCursorsGetDuringFlush(t *testing.T) {
	t.Parallel()

	e := newEnv(t)
	c, _ := startCursors(t, e, time.Millisecond)
	deadline := time.Now().Add(3 * time.Second)
	for i := uint64(1); time.Now().Before(deadline); i++ {
		c.Set("alice", "phone", wire.Offset{Ms: i})
		o, ok, err := c.Get(testCtx(t), "alice", "phone")
		if err != nil {
			t.Fatal(err)
		}
		if !ok || o.Ms != i {
			t.Fatalf("after Set(%d-0) Get = %v, %v", i, o, ok)
		}
	}
}
