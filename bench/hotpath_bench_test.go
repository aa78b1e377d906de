package bench

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

// Hot paths of the delivery pipeline and of the bench's own clients.
// `make bench` runs them (go test -run='^$' -bench=. -benchmem ./...).

// countSink is a router's sink that counts the pushes handed to it.
type countSink struct{ n atomic.Int64 }

func (s *countSink) Deliver(p []*wire.Push, accepted, written func()) {
	s.n.Add(int64(len(p)))
	if accepted != nil {
		accepted()
	}
	if written != nil {
		written()
	}
}

// BenchmarkRouterBatch measures the router on a backlog of b.N ingress entries for
// 1,000 users (XREADGROUP COUNT 500, pipeline 1: history XADD + PEXPIRE + SMEMBERS,
// pipeline 2: hand-off + XACK), against a real redis-server:
//   - local: every user has a session on this node (hand-off to the directory);
//   - remote: every user is on another node (hand-off by XADD to its inbox).
//
// The time per op is per entry, wall clock, Redis included.
func BenchmarkRouterBatch(b *testing.B) {
	for _, where := range []string{"local", "remote"} {
		b.Run(where, func(b *testing.B) {
			srv := redistest.Start(b, redistest.Options{})
			rdb := srv.Client(b)
			ctx := context.Background()
			keys := streams.NewKeys("herald", 1)
			const users = 1000
			host := "n1"
			if where == "remote" {
				host = "n2"
			}
			pipe := rdb.Pipeline()
			for u := 0; u < users; u++ {
				pipe.SAdd(ctx, keys.Presence(wire.User("u"+strconv.Itoa(u))), host)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
			data := string(appendPayload(nil, 0, time.Now().UnixNano(), false, 100))
			for n := 0; n < b.N; n += 500 {
				pipe := rdb.Pipeline()
				for i := n; i < n+500 && i < b.N; i++ {
					pipe.XAdd(ctx, &redis.XAddArgs{Stream: keys.Ingress(0), Values: []any{"to", "u" + strconv.Itoa(i%users), "data", data}})
				}
				if _, err := pipe.Exec(ctx); err != nil {
					b.Fatal(err)
				}
			}
			sink := &countSink{}
			r := streams.NewRouter(rdb, keys, streams.RouterConfig{
				Node: "n1", ReadCount: 500, Block: 100 * time.Millisecond, ClaimIdle: 10 * time.Second, MaxDeliveries: 5,
				LeaseTTL: 5 * time.Second, DLQMaxLen: 100_000, HistorySize: 1000,
				HistoryTTL: 24 * time.Hour, MaxPayload: 64 << 10,
			}, sink, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), streams.NewMetrics(prometheus.NewRegistry()), streams.NewHealth())
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			r.Start()
			defer func() { _ = r.Stop(context.Background()) }()
			done := func() bool {
				if where == "local" {
					return sink.n.Load() >= int64(b.N)
				}
				l, _ := rdb.XLen(ctx, keys.Inbox("n2")).Result()
				return l >= int64(b.N)
			}
			for !done() {
				time.Sleep(200 * time.Microsecond)
			}
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
		})
	}
}

func BenchmarkParsePayload(b *testing.B) {
	p := appendPayload(nil, 123456789, time.Now().UnixNano(), false, 100)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := parsePayload(p); !ok {
			b.Fatal("no parse")
		}
	}
}

func BenchmarkSeqSetAdd(b *testing.B) {
	var s seqSet
	b.ReportAllocs()
	i := int64(0)
	for b.Loop() {
		s.add(i % (1 << 20))
		i++
	}
}

// BenchmarkRecorder is the latency histogram every delivery records into, from
// many goroutines.
func BenchmarkRecorder(b *testing.B) {
	r := newRecorder()
	var conn atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := int(conn.Add(1))
		v := int64(1)
		for pb.Next() {
			r.record(c, v%100_000)
			v += 7
		}
	})
}
