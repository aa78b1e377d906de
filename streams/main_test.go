package streams_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
	"go.uber.org/goleak"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

func TestMain(m *testing.M) {
	logging.Disable() // go-redis prints every failed dial of the outage tests
	goleak.VerifyTestMain(m)
}

const waitLong = 10 * time.Second // generous bound for eventually; never a timing assertion

// env is one throw-away redis-server with the parts every streams test needs.
type env struct {
	srv     *redistest.Server
	rdb     *redis.Client
	keys    streams.Keys
	metrics *streams.Metrics
	health  *streams.Health
	log     *slog.Logger
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, redistest.Options{})
}

func newEnvWith(t *testing.T, opts redistest.Options) *env {
	t.Helper()
	srv := redistest.Start(t, opts)
	return &env{
		srv:     srv,
		rdb:     srv.Client(t),
		keys:    streams.NewKeys("herald", 1),
		metrics: streams.NewMetrics(prometheus.NewRegistry()),
		health:  streams.NewHealth(),
		log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// withoutRetries replaces e's client by one that does not retry, for tests that
// take Redis down (go-redis would otherwise back off for seconds per command).
func (e *env) withoutRetries(t *testing.T) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: e.srv.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	e.rdb = c
}

// reads returns a started batcher of reads on e's client, stopped when t ends.
func (e *env) reads(t *testing.T) *streams.Reads {
	t.Helper()
	r := streams.NewReads(e.rdb, e.metrics)
	r.Start()
	t.Cleanup(func() { r.Stop(context.Background()) })
	return r
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func routerConfig(node string) streams.RouterConfig {
	return streams.RouterConfig{
		Node:          node,
		ReadCount:     10,
		Block:         50 * time.Millisecond,
		ClaimIdle:     300 * time.Millisecond,
		MaxDeliveries: 3,
		LeaseTTL:      600 * time.Millisecond,
		DLQMaxLen:     1000,
		HistorySize:   5,
		HistoryTTL:    time.Hour,
		MaxPayload:    1024,
	}
}

// startRouter starts a router and stops it at cleanup; stop stops it earlier.
func (e *env) startRouter(t *testing.T, cfg streams.RouterConfig, sink streams.Sink) (stop func()) {
	t.Helper()
	r := streams.NewRouter(e.rdb, e.keys, cfg, sink, nil, nil, e.log, e.metrics, e.health)
	r.Start()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := r.Stop(ctx); err != nil {
				t.Errorf("router %s Stop: %v", cfg.Node, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func (e *env) startInbox(t *testing.T, node string, sink streams.Sink) (stop func()) {
	t.Helper()
	in := streams.NewInbox(e.rdb, e.keys, streams.InboxConfig{Node: node, ReadCount: 10, Block: 50 * time.Millisecond, DLQMaxLen: 1000}, sink, e.log, e.metrics, e.health)
	in.Start()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := in.Stop(ctx); err != nil {
				t.Errorf("inbox %s Stop: %v", node, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// xadd appends one entry with the given field/value pairs and returns its id.
func xadd(t testing.TB, rdb *redis.Client, stream string, kv ...string) string {
	t.Helper()
	values := make([]any, len(kv))
	for i, s := range kv {
		values[i] = s
	}
	id, err := rdb.XAdd(testCtx(t), &redis.XAddArgs{Stream: stream, Values: values}).Result()
	if err != nil {
		t.Fatalf("XADD %s: %v", stream, err)
	}
	return id
}

// xaddID appends one entry with an explicit id.
func xaddID(t testing.TB, rdb *redis.Client, stream, id string, kv ...string) string {
	t.Helper()
	values := make([]any, len(kv))
	for i, s := range kv {
		values[i] = s
	}
	got, err := rdb.XAdd(testCtx(t), &redis.XAddArgs{Stream: stream, ID: id, Values: values}).Result()
	if err != nil {
		t.Fatalf("XADD %s %s: %v", stream, id, err)
	}
	return got
}

func xrange(t testing.TB, rdb *redis.Client, stream string) []redis.XMessage {
	t.Helper()
	msgs, err := rdb.XRange(testCtx(t), stream, "-", "+").Result()
	if err != nil {
		t.Fatalf("XRANGE %s: %v", stream, err)
	}
	return msgs
}

// groupDone is nil once group has read everything up to lastID and has nothing
// pending: every entry was routed and acknowledged.
func groupDone(ctx context.Context, rdb *redis.Client, stream, group, lastID string) error {
	groups, err := rdb.XInfoGroups(ctx, stream).Result()
	if err != nil {
		return err
	}
	for _, g := range groups {
		if g.Name != group {
			continue
		}
		if wire.MustOffset(g.LastDeliveredID).Less(wire.MustOffset(lastID)) {
			return fmt.Errorf("group %s of %s delivered up to %s, want %s", group, stream, g.LastDeliveredID, lastID)
		}
		if g.Pending != 0 {
			return fmt.Errorf("group %s of %s has %d pending", group, stream, g.Pending)
		}
		return nil
	}
	return fmt.Errorf("no group %s on %s", group, stream)
}

func waitGroupDone(t testing.TB, rdb *redis.Client, stream, group, lastID string) {
	t.Helper()
	testkit.Eventually(t, waitLong, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return groupDone(ctx, rdb, stream, group, lastID)
	})
}

func pendingCount(t testing.TB, rdb *redis.Client, stream, group string) int64 {
	t.Helper()
	p, err := rdb.XPending(testCtx(t), stream, group).Result()
	if err != nil {
		t.Fatalf("XPENDING %s %s: %v", stream, group, err)
	}
	return p.Count
}

// counter reads a counter's value.
func counter(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// fakeSink records what it is given. It calls accepted at once; written at once,
// or, while held, when release is called.
type fakeSink struct {
	mu      sync.Mutex
	batches [][]*wire.Push
	hold    bool
	held    []func()
}

func (s *fakeSink) Deliver(pushes []*wire.Push, accepted, written func()) {
	s.mu.Lock()
	s.batches = append(s.batches, append([]*wire.Push(nil), pushes...))
	hold := s.hold
	if hold && written != nil {
		s.held = append(s.held, written)
	}
	s.mu.Unlock()
	if accepted != nil {
		accepted()
	}
	if !hold && written != nil {
		written()
	}
}

// release runs the held written callbacks and stops holding.
func (s *fakeSink) release() {
	s.mu.Lock()
	held := s.held
	s.held, s.hold = nil, false
	s.mu.Unlock()
	for _, w := range held {
		w()
	}
}

func (s *fakeSink) pushes() []*wire.Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*wire.Push
	for _, b := range s.batches {
		all = append(all, b...)
	}
	return all
}

func (s *fakeSink) batchCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.batches)
}

// waitPushes waits until the sink got at least n pushes and returns them.
func (s *fakeSink) waitPushes(t testing.TB, n int) []*wire.Push {
	t.Helper()
	var got []*wire.Push
	testkit.Eventually(t, waitLong, func() error {
		if got = s.pushes(); len(got) < n {
			return fmt.Errorf("sink has %d pushes, want %d", len(got), n)
		}
		return nil
	})
	return got
}

// dataOf lists the pushes' payloads.
func dataOf(ps []*wire.Push) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p.Data)
	}
	return out
}

// distinctByID keeps the first push of each id, as a client drops duplicates.
func distinctByID(ps []*wire.Push) []*wire.Push {
	seen := make(map[string]bool)
	var out []*wire.Push
	for _, p := range ps {
		if !seen[p.ID] {
			seen[p.ID] = true
			out = append(out, p)
		}
	}
	return out
}

var errNotYet = errors.New("not yet")
