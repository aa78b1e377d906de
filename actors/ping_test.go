package actors

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/herald-push/herald/wire"
)

// Sessions opened together spread their first pings over the second half of the
// interval (then ping every interval), instead of pinging together forever: Open
// schedules each session's first ping by firstPing.
func TestSessionsOpenedTogetherPingApart(t *testing.T) {
	for _, interval := range []time.Duration{time.Second, 20 * time.Second, time.Hour} {
		seen := map[time.Duration]bool{}
		for range 100 {
			d := firstPing(interval)
			if d < interval/2 || d > interval {
				t.Fatalf("interval %v: first ping after %v", interval, d)
			}
			seen[d.Truncate(interval/20)] = true
		}
		if len(seen) < 5 {
			t.Errorf("interval %v: 100 sessions' first pings fall in %d of 10 slots", interval, len(seen))
		}
	}

	const interval = 20 * time.Second
	sys := New(Config{Node: "n", MaxPendingBytes: 1 << 20, PingInterval: interval},
		Deps{History: nopHistory{}, Cursors: nopCursors{}, Presence: readyPresence{},
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: NewMetrics(prometheus.NewRegistry())})
	defer func() { _ = sys.Shutdown(context.Background()) }()
	opened := time.Now()
	seen := map[int64]bool{}
	for i := 0; i < 100; i++ {
		h, err := sys.Open(SessionSpec{ID: fmt.Sprint(i), User: fmt.Sprint("u", i)}, &clockSocket{closed: make(chan uint16, 1)})
		if err != nil {
			t.Fatal(err)
		}
		at := time.Unix(0, h.pingAt.Load())
		if d := at.Sub(opened); d < interval/2 || d > interval+time.Second {
			t.Fatalf("session %d: first ping %v after open, want within [%v, %v]", i, d, interval/2, interval)
		}
		seen[at.Sub(opened).Truncate(interval/20).Nanoseconds()] = true
	}
	if len(seen) < 5 {
		t.Errorf("100 sessions opened together have their first pings in %d of 10 slots", len(seen))
	}
}

// clockSocket records the pings and the close of one session.
type clockSocket struct {
	pings  atomic.Int32
	closed chan uint16
}

func (*clockSocket) WriteText(...[]byte) error { return nil }
func (s *clockSocket) Ping() error             { s.pings.Add(1); return nil }
func (s *clockSocket) Close(code uint16, _ string) {
	select {
	case s.closed <- code:
	default:
	}
}

// The directory's clock pings a session every interval and closes it with 4001
// when its token expires, counting it; without an expiry it keeps pinging.
func TestClockPingsSessionsAndClosesExpiredTokens(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	sys := New(Config{Node: "n", MaxPendingBytes: 1 << 20, PingInterval: 40 * time.Millisecond},
		Deps{History: nopHistory{}, Cursors: nopCursors{}, Presence: readyPresence{},
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: m})
	defer func() { _ = sys.Shutdown(context.Background()) }()

	expiring := &clockSocket{closed: make(chan uint16, 1)}
	start := time.Now()
	if _, err := sys.Open(SessionSpec{ID: "1", User: "alice", Expiry: start.Add(400 * time.Millisecond)}, expiring); err != nil {
		t.Fatal(err)
	}
	lasting := &clockSocket{closed: make(chan uint16, 1)}
	if _, err := sys.Open(SessionSpec{ID: "2", User: "bob"}, lasting); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-expiring.closed:
		if code != wire.CloseTokenExpired {
			t.Fatalf("closed with %d, want 4001", code)
		}
		if el := time.Since(start); el < 400*time.Millisecond {
			t.Fatalf("closed %v after open, before the token expired", el)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no 4001 within 5 s of a 400 ms token")
	}
	var d dto.Metric
	if _ = m.ExpiryClosed.Write(&d); d.GetCounter().GetValue() != 1 {
		t.Errorf("herald_token_expiry_closes_total = %v", d.GetCounter().GetValue())
	}
	if n := expiring.pings.Load(); n < 3 {
		t.Errorf("%d pings in 400 ms at a 40 ms interval", n)
	}
	time.Sleep(200 * time.Millisecond)
	if n := lasting.pings.Load(); n < 8 {
		t.Errorf("%d pings in 600 ms at a 40 ms interval", n)
	}
	select {
	case code := <-lasting.closed:
		t.Fatalf("a session without expiry closed with %d", code)
	default:
	}
}
