package notify_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/gateway/notify"
	"github.com/herald-push/herald/gateway/push"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

type noopSender struct{}

func (noopSender) Send(context.Context, wire.PushTarget, push.Notification) error { return nil }

// BenchmarkWorkerSettles measures undelivered events settled per second by one
// worker (push.concurrency 8) against a real redis-server, each event to a user
// with two targets and a sender that accepts at once: the worker's own Redis
// round trips are the cost. go test -run '^$' -bench WorkerSettles ./gateway/notify
func BenchmarkWorkerSettles(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	rdb := srv.Client(b)
	keys := streams.NewKeys("herald", 1)
	ctx := context.Background()
	targets := streams.NewPushTargets(rdb, keys, time.Hour)
	const users = 100
	for u := range users {
		user := fmt.Sprintf("u%d", u)
		_ = targets.Put(ctx, user, "phone", wire.PushTarget{Kind: wire.KindFCM, Token: "f" + user})
		_ = targets.Put(ctx, user, "tablet", wire.PushTarget{Kind: wire.KindAPNs, Token: "a" + user})
	}
	events := streams.NewPushEvents(rdb, keys, "n1", 1000)
	if err := events.Start(ctx); err != nil {
		b.Fatal(err)
	}
	pipe := rdb.Pipeline()
	for i := range b.N {
		user := fmt.Sprintf("u%d", i%users)
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: keys.Undelivered(), Values: []any{"to", user, "offset", fmt.Sprintf("%d-0", i+1), "id", fmt.Sprintf("m%d", i), "data", `{"t":"hi"}`}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	m := notify.NewMetrics(prometheus.NewRegistry())
	w := notify.New(notify.Config{Consumer: "n1", Concurrency: 8, Block: 50 * time.Millisecond}, notify.Deps{
		Events: events, Ledger: streams.NewPushLedger(rdb, keys, time.Hour, 0, time.Minute),
		Lookup: streams.NewPushLookup(rdb, keys), Targets: targets, Sender: noopSender{}, Metrics: m,
	})
	b.ResetTimer()
	w.Start()
	for value(b, m.Events.WithLabelValues("notified")) < float64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	_ = w.Stop(ctx)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
