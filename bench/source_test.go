package bench

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

// redisEnv is an env on a throw-away redis-server, with no node.
func redisEnv(t *testing.T) *env {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	return &env{kind: kindHerald, rdb: srv.Client(t), redisURL: srv.Addr, keys: streams.NewKeys("herald", 1)}
}

// streamLen is the entries of the streams named (each counted once).
func streamLen(t *testing.T, rdb redis.UniversalClient, keys ...string) int64 {
	t.Helper()
	var n int64
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		l, err := rdb.XLen(context.Background(), k).Result()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		n += l
	}
	return n
}

// The source addresses each user's ingress stream, or the topic's.
func TestNewRedisSource(t *testing.T) {
	e := &env{keys: streams.NewKeys("hx", 4)}
	s := newRedisSource(e, modeUnicast, 3, "news", &Config{Payload: 100, Publishers: 2, Batch: 10})
	if len(s.users) != 3 || s.users[2] != "u2" || s.streams[2] != e.keys.IngressFor(wire.User("u2")) || s.topicKey != "" {
		t.Errorf("unicast source %+v", s)
	}
	b := newRedisSource(e, modeBroadcast, 3, "news", &Config{Payload: 100})
	if len(b.users) != 0 || b.topicKey != e.keys.IngressFor(wire.Topic("news")) || b.topic != "news" {
		t.Errorf("broadcast source %+v", b)
	}
	b.pub.Store(4)
	b.fanout = 3
	if b.expected() != 12 || s.expected() != 0 || b.firstError() != "" {
		t.Errorf("expected %d, %d", b.expected(), s.expected())
	}
}

// send writes one XADD per message with the fields the router reads; warm-up
// messages are not counted.
func TestRedisSourceSend(t *testing.T) {
	e := redisEnv(t)
	ctx := context.Background()
	s := newRedisSource(e, modeUnicast, 3, "", &Config{Payload: 60, Publishers: 1, Batch: 10})
	s.send(ctx, 0, 7, false)
	if s.published() != 7 || s.errorCount() != 0 {
		t.Errorf("published %d, errors %d", s.published(), s.errorCount())
	}
	all, err := e.rdb.XRange(ctx, s.streams[1], "-", "+").Result()
	var msgs []redis.XMessage
	for _, m := range all {
		if m.Values["to"] == "u1" {
			msgs = append(msgs, m)
		}
	}
	if err != nil || len(msgs) != 2 { // messages 1 and 4 are user 1's
		t.Fatalf("user 1's messages: %v %v", msgs, err)
	}
	p, ok := parsePayload([]byte(msgs[1].Values["data"].(string)))
	if !ok || p.N != 4 || p.Warm {
		t.Errorf("entry %+v", msgs[1].Values)
	}
	s.warm(ctx)
	if s.published() != 7 || streamLen(t, e.rdb, s.streams...) != 10 {
		t.Errorf("after the warm-up: published %d, entries %d", s.published(), streamLen(t, e.rdb, s.streams...))
	}
	s.sendTo(ctx, 2, 5)
	if streamLen(t, e.rdb, s.streams...) != 15 {
		t.Errorf("after sendTo: %d entries", streamLen(t, e.rdb, s.streams...))
	}
	b := newRedisSource(e, modeBroadcast, 3, "news", &Config{Payload: 60})
	b.warm(ctx)
	last, err := e.rdb.XRevRangeN(ctx, b.topicKey, "+", "-", 1).Result()
	if err != nil || len(last) != 1 || last[0].Values["topic"] != "news" || b.published() != 0 {
		t.Fatalf("broadcast warm-up: %+v %v", last, err)
	}
	if p, ok := parsePayload([]byte(last[0].Values["data"].(string))); !ok || !p.Warm {
		t.Errorf("broadcast warm-up payload %+v", last[0].Values)
	}
}

// Failed XADDs are counted and the first error kept; they leave the window.
func TestRedisSourceSendErrors(t *testing.T) {
	e := redisEnv(t)
	e.keys = streams.NewKeys("herald", 64)
	s := newRedisSource(e, modeUnicast, 2, "", &Config{Payload: 60})
	if s.streams[0] == s.streams[1] {
		t.Fatal("users 0 and 1 share a partition: pick others")
	}
	ctx := context.Background()
	if err := e.rdb.Set(ctx, s.streams[0], "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.issued.Store(4)
	s.send(ctx, 0, 4, false)
	if s.published() != 2 || s.errorCount() != 2 || !strings.Contains(s.firstError(), "WRONGTYPE") || s.issued.Load() != 2 {
		t.Errorf("published %d, errors %d (%q), issued %d", s.published(), s.errorCount(), s.firstError(), s.issued.Load())
	}
}

// Paced: about rate x duration messages, all issued and published.
func TestRedisSourcePaced(t *testing.T) {
	e := redisEnv(t)
	s := newRedisSource(e, modeUnicast, 5, "", &Config{Payload: 60, Publishers: 2, Batch: 7})
	start := time.Now()
	if err := s.run(context.Background(), pubPlan{rate: 1000, dur: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 300*time.Millisecond || el > 5*time.Second {
		t.Errorf("ran %v", el)
	}
	// Never ahead of the rate; behind it only when this machine is very busy.
	n := s.published()
	if n < 100 || n > 300 || s.issued.Load() != n || streamLen(t, e.rdb, s.streams...) != n {
		t.Errorf("published %d (want at most and about 300), issued %d, entries %d", n, s.issued.Load(), streamLen(t, e.rdb, s.streams...))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.run(ctx, pubPlan{rate: 1000, dur: time.Second}); err != context.Canceled {
		t.Errorf("cancelled run: %v", err)
	}
}

// Flat out: never more than the window in flight; a run with no delivery stalls.
func TestRedisSourceFlatOut(t *testing.T) {
	e := redisEnv(t)
	s := newRedisSource(e, modeUnicast, 5, "", &Config{Payload: 60, Publishers: 3, Batch: 4})
	var delivered atomic.Int64
	var maxInFlight atomic.Int64
	deliver := func() int64 { // every message arrives once asked about, lagging one batch
		pub := s.published()
		maxInFlight.Store(max(maxInFlight.Load(), s.issued.Load()-delivered.Load()))
		if d := delivered.Load(); pub-d > 4 {
			delivered.Store(pub - 4)
		}
		return delivered.Load()
	}
	err := s.run(context.Background(), pubPlan{dur: 200 * time.Millisecond, window: 10, fanout: 1, delivery: deliver, stall: time.Second})
	if err != nil || s.published() < 20 {
		t.Fatalf("flat out: %v, %d published", err, s.published())
	}
	if m := maxInFlight.Load(); m > 10+3*4 { // each publisher may have checked before the others' batches
		t.Errorf("%d in flight, window 10", m)
	}
	stuck := newRedisSource(e, modeBroadcast, 5, "t", &Config{Payload: 60, Publishers: 2, Batch: 50})
	stuck.fanout = 5
	start := time.Now()
	err = stuck.run(context.Background(), pubPlan{dur: 10 * time.Second, window: 3, fanout: 5, delivery: func() int64 { return 0 }, stall: 150 * time.Millisecond})
	// Batches of min(50, 3); the two publishers may both pass the window's check
	// before either adds its batch, so 3 or 6 are in flight.
	pub := stuck.published()
	if err == nil || err.Error() != fmt.Sprintf("publishing stalled: nothing delivered for 150ms with %d messages in flight", pub) {
		t.Errorf("stall: %v", err)
	}
	if time.Since(start) > 2*time.Second || (pub != 3 && pub != 6) {
		t.Errorf("stalled after %v with %d published, want 3 or 6", time.Since(start), pub)
	}
}
