package streams_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/streams"
)

// The observer counts a vanished consumer stream once per vanishing, whether a
// plain command or a pipeline met it, and an OOM refusal once per round trip.
func TestObserverCountsVanishedStreamsAndOOM(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	e.rdb.AddHook(streams.NewObserver(e.keys, "n1", e.log, e.metrics))
	read := func(c redis.Cmdable, stream string) {
		c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "node", Consumer: "n1", Streams: []string{stream, ">"}, Block: -1})
	}
	read(e.rdb, e.keys.Inbox("n1"))
	read(e.rdb, e.keys.Inbox("n1")) // the same vanishing
	read(e.rdb, e.keys.Inbox("other"))
	if n := counter(t, e.metrics.KeysVanished.WithLabelValues("inbox")); n != 1 {
		t.Fatalf("inbox vanishings %v, want 1", n)
	}
	_, _ = e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		read(p, e.keys.Ingress(0))
		p.Ping(ctx)
		return nil
	})
	if n := counter(t, e.metrics.KeysVanished.WithLabelValues("ingress")); n != 1 {
		t.Fatalf("ingress vanishings %v, want 1", n)
	}
	time.Sleep(1100 * time.Millisecond) // past the dedupe window: a new vanishing
	e.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: e.keys.Ingress(0), Group: "router", Consumer: "n1", Start: "0"})
	if n := counter(t, e.metrics.KeysVanished.WithLabelValues("ingress")); n != 2 {
		t.Fatalf("ingress vanishings %v, want 2", n)
	}
	if err := e.rdb.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	_, _ = e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "a", "1", 0)
		p.Set(ctx, "b", "1", 0)
		return nil
	})
	e.rdb.Set(ctx, "c", "1", 0)
	if n := counter(t, e.metrics.RedisOOM); n != 2 {
		t.Fatalf("OOM round trips %v, want 2", n)
	}
}
