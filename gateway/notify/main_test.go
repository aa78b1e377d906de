package notify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
	"go.uber.org/goleak"

	"github.com/herald-push/herald/gateway/notify"
	"github.com/herald-push/herald/gateway/push"
	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

func TestMain(m *testing.M) {
	logging.Disable() // go-redis prints every failed dial of the restart test
	goleak.VerifyTestMain(m)
}

const waitLong = 15 * time.Second // bound for Eventually; never a timing assertion

// env is a redis-server and the Redis-side parts the worker uses.
type env struct {
	srv     *redistest.Server
	rdb     redis.UniversalClient
	keys    streams.Keys
	targets *streams.PushTargets
}

func newEnv(t *testing.T, opts redistest.Options) *env {
	t.Helper()
	srv := redistest.Start(t, opts)
	keys := streams.NewKeys("herald", 1)
	rdb := srv.Client(t)
	return &env{srv: srv, rdb: rdb, keys: keys, targets: streams.NewPushTargets(rdb, keys, time.Hour)}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// worker is a running worker with its metrics.
type worker struct {
	*notify.Worker
	metrics *notify.Metrics
	stopped bool
}

// testConfig is quick: short claims, blocks and backoffs.
func testConfig(consumer string) notify.Config {
	return notify.Config{
		Consumer: consumer, Concurrency: 4, ClaimIdle: 600 * time.Millisecond, Block: 50 * time.Millisecond,
		RetryBackoff: 20 * time.Millisecond, MaxRetryDelay: 200 * time.Millisecond, SendTimeout: 5 * time.Second,
	}
}

// start runs a worker on e with sender and rate limit (0: none); it is
// stopped when the test ends.
func (e *env) start(t *testing.T, cfg notify.Config, sender push.Sender, rateLimit int) *worker {
	t.Helper()
	events := streams.NewPushEvents(e.rdb, e.keys, cfg.Consumer, 1000)
	if err := events.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	m := notify.NewMetrics(prometheus.NewRegistry())
	w := &worker{metrics: m, Worker: notify.New(cfg, notify.Deps{
		Events: events, Ledger: streams.NewPushLedger(e.rdb, e.keys, 24*time.Hour, rateLimit, time.Minute),
		Lookup: streams.NewPushLookup(e.rdb, e.keys), Targets: e.targets, Sender: sender,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: m,
	})}
	w.Start()
	t.Cleanup(func() { w.stop(t) })
	return w
}

func (w *worker) stop(t *testing.T) {
	t.Helper()
	if w.stopped {
		return
	}
	w.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

// publish writes a push to user's history, as the router does, and returns
// its offset.
func (e *env) publish(t *testing.T, user, id, data string) string {
	t.Helper()
	off, err := e.rdb.XAdd(ctxT(t), &redis.XAddArgs{Stream: e.keys.History(wire.User(user)),
		Values: []any{"id", id, "data", data, "ts", strconv.FormatInt(time.Now().UnixMilli(), 10)}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return off
}

// undelivered appends the event Undelivered emits for the push at off.
func (e *env) undelivered(t *testing.T, user, off, id, data string) string {
	t.Helper()
	evID, err := e.rdb.XAdd(ctxT(t), &redis.XAddArgs{Stream: e.keys.Undelivered(),
		Values: []any{"to", user, "offset", off, "id", id, "data", data}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return evID
}

// unacked publishes a push and its undelivered event.
func (e *env) unacked(t *testing.T, user, id, data string) string {
	t.Helper()
	off := e.publish(t, user, id, data)
	e.undelivered(t, user, off, id, data)
	return off
}

func (e *env) put(t *testing.T, user, device string, target wire.PushTarget) {
	t.Helper()
	if err := e.targets.Put(ctxT(t), user, device, target); err != nil {
		t.Fatal(err)
	}
}

func fcm(token string) wire.PushTarget  { return wire.PushTarget{Kind: wire.KindFCM, Token: token} }
func apns(token string) wire.PushTarget { return wire.PushTarget{Kind: wire.KindAPNs, Token: token} }

// waitSettled waits until the group "push" has nothing pending and has read
// everything in the stream.
func (e *env) waitSettled(t *testing.T) {
	t.Helper()
	testkit.Eventually(t, waitLong, func() error {
		ctx := ctxT(t)
		groups, err := e.rdb.XInfoGroups(ctx, e.keys.Undelivered()).Result()
		if err != nil {
			return err
		}
		last, err := e.rdb.XRevRangeN(ctx, e.keys.Undelivered(), "+", "-", 1).Result()
		if err != nil || len(last) == 0 {
			return fmt.Errorf("no events: %v", err)
		}
		for _, g := range groups {
			if g.Name == "push" && g.Pending == 0 && g.LastDeliveredID == last[0].ID {
				return nil
			}
			if g.Name == "push" {
				return fmt.Errorf("group push: pending %d, last delivered %s of %s", g.Pending, g.LastDeliveredID, last[0].ID)
			}
		}
		return errors.New("no group push")
	})
}

// sent is one notification a fakeSender accepted.
type sent struct {
	target wire.PushTarget
	n      push.Notification
}

// fakeSender records what it sends; script gives, per token, the errors of
// its next sends (nil: accepted); block makes sends to a token wait until
// their context ends.
type fakeSender struct {
	mu      sync.Mutex
	sent    []sent
	calls   map[string]int
	script  map[string][]error
	blocked map[string]bool
}

func newFakeSender() *fakeSender {
	return &fakeSender{calls: map[string]int{}, script: map[string][]error{}, blocked: map[string]bool{}}
}

func (f *fakeSender) Send(ctx context.Context, t wire.PushTarget, n push.Notification) error {
	f.mu.Lock()
	f.calls[t.Token]++
	if f.blocked[t.Token] {
		f.mu.Unlock()
		<-ctx.Done()
		return &push.RetryableError{Err: ctx.Err()}
	}
	if s := f.script[t.Token]; len(s) > 0 {
		f.script[t.Token] = s[1:]
		if s[0] != nil {
			f.mu.Unlock()
			return s[0]
		}
	}
	f.sent = append(f.sent, sent{t, n})
	f.mu.Unlock()
	return nil
}

func (f *fakeSender) fail(token string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[token] = append(f.script[token], errs...)
}

func (f *fakeSender) block(token string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocked[token] = on
}

func (f *fakeSender) callsTo(token string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[token]
}

// byToken lists, per token, the push ids sent, sorted.
func (f *fakeSender) byToken() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]string{}
	for _, s := range f.sent {
		out[s.target.Token] = append(out[s.target.Token], s.n.ID)
	}
	for _, ids := range out {
		sort.Strings(ids)
	}
	return out
}

func (f *fakeSender) all() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.sent...)
}

// waitSent waits until token got n notifications.
func (f *fakeSender) waitSent(t *testing.T, token string, n int) {
	t.Helper()
	testkit.Eventually(t, waitLong, func() error {
		if got := len(f.byToken()[token]); got < n {
			return fmt.Errorf("%s got %d notifications, want %d", token, got, n)
		}
		return nil
	})
}

// value reads a counter or gauge.
func value(t testing.TB, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

func (w *worker) events(t testing.TB, outcome string) float64 {
	return value(t, w.metrics.Events.WithLabelValues(outcome))
}

func (w *worker) notifications(t testing.TB, kind, outcome string) float64 {
	return value(t, w.metrics.Notifications.WithLabelValues(kind, outcome))
}

// waitEvents waits until the worker settled n events with outcome.
func (w *worker) waitEvents(t *testing.T, outcome string, n float64) {
	t.Helper()
	testkit.Eventually(t, waitLong, func() error {
		if got := w.events(t, outcome); got < n {
			return fmt.Errorf("%s events: %v, want %v", outcome, got, n)
		}
		return nil
	})
}

func userOf(name string) wire.Recipient { return wire.User(name) }
