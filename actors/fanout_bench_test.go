package actors

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herald-push/herald/wire"
)

// Fakes for the Redis side: no history, presence ready at once.
type nopHistory struct{}

func (nopHistory) Top(context.Context, wire.Recipient) (wire.Offset, error) {
	return wire.Offset{}, nil
}
func (nopHistory) Replay(_ context.Context, _ wire.Recipient, since wire.Offset, _ func([]*wire.Push) error) (wire.Offset, bool, error) {
	return since, true, nil
}

func (nopHistory) LiveOnly(wire.Recipient) bool { return false }

func (nopHistory) ReplayAfter(_ context.Context, _ wire.Recipient, since wire.Offset, _ func([]*wire.Push) error) (wire.Offset, error) {
	return since, nil
}

type nopCursors struct{}

func (nopCursors) Get(context.Context, string, string) (wire.Offset, bool, error) {
	return wire.Offset{}, false, nil
}
func (nopCursors) Set(string, string, wire.Offset) {}

type readyPresence struct{}

func (readyPresence) Add(_ wire.Recipient, ready func()) { ready() }
func (readyPresence) Remove(wire.Recipient)              {}

// countingSocket discards frames and counts the pushes in them.
type countingSocket struct{ pushes *atomic.Int64 }

func (s countingSocket) WriteText(parts ...[]byte) error {
	for _, p := range parts {
		if len(p) > 1 {
			s.pushes.Add(1)
		}
	}
	return nil
}
func (countingSocket) Ping() error          { return nil }
func (countingSocket) Close(uint16, string) {}

func newBenchSystem(tb testing.TB) *System {
	return New(Config{Node: "bench", MaxPendingBytes: 1 << 20, PingInterval: time.Hour},
		Deps{History: nopHistory{}, Cursors: nopCursors{}, Presence: readyPresence{},
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: NewMetrics(prometheus.NewRegistry())})
}

// BenchmarkTopicFanout measures one topic push delivered to n local subscribers:
// directory shard -> outboxes -> session actors -> socket writes (discarded). The
// frame is encoded once and shared; allocs/op divided by n is the cost per delivery.
func BenchmarkTopicFanout(b *testing.B) {
	for _, n := range []int{1, 100, 10_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			sys := newBenchSystem(b)
			defer func() { _ = sys.Shutdown(context.Background()) }()
			var written atomic.Int64
			var handles []*Handle
			for i := 0; i < n; i++ {
				h, err := sys.Open(SessionSpec{ID: fmt.Sprint(i), User: fmt.Sprint("u", i), Topics: []string{"feed"}},
					countingSocket{pushes: &written})
				if err != nil {
					b.Fatal(err)
				}
				handles = append(handles, h)
			}
			waitLive(b, sys, n, &written)
			push := &wire.Push{Recipient: wire.Topic("feed"), ID: "m", TS: time.Now().UnixMilli(), Data: []byte(`{"text":"hello"}`)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := *push
				p.Offset = wire.Offset{Ms: 1<<40 + uint64(i)}
				p.Encode()
				var wg sync.WaitGroup
				wg.Add(1)
				sys.Deliver([]*wire.Push{&p}, nil, wg.Done)
				wg.Wait()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "deliveries/s")
			for _, h := range handles {
				h.PeerClosed()
			}
		})
	}
}

// waitLive waits until every session's topic subscription is live: a probe push
// is written by all n. Probes use small offsets, below those of the benchmark.
func waitLive(b *testing.B, sys *System, n int, written *atomic.Int64) {
	deadline := time.Now().Add(60 * time.Second)
	for ms := uint64(1); time.Now().Before(deadline); ms++ {
		before := written.Load()
		probe := &wire.Push{Recipient: wire.Topic("feed"), ID: "probe", Offset: wire.Offset{Ms: ms}, Data: []byte("0")}
		probe.Encode()
		var wg sync.WaitGroup
		wg.Add(1)
		sys.Deliver([]*wire.Push{probe}, nil, wg.Done)
		wg.Wait()
		if written.Load()-before == int64(n) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("subscriptions not live")
}
