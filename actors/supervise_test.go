package actors

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/herald-push/herald/wire"
)

// recSocket records the frames written to one session and its close code.
type recSocket struct {
	mu     sync.Mutex
	frames [][]byte
	closed chan uint16
}

func newRecSocket() *recSocket { return &recSocket{closed: make(chan uint16, 1)} }

func (s *recSocket) WriteText(parts ...[]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames = append(s.frames, bytes.Join(parts, nil))
	return nil
}
func (s *recSocket) Ping() error { return nil }
func (s *recSocket) Close(code uint16, _ string) {
	select {
	case s.closed <- code:
	default:
	}
}

// wrote reports whether a frame holding sub was written.
func (s *recSocket) wrote(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.frames {
		if bytes.Contains(f, []byte(sub)) {
			return true
		}
	}
	return false
}

func userPush(user, id string, ms uint64) *wire.Push {
	p := &wire.Push{Recipient: wire.User(user), ID: id, Offset: wire.Offset{Ms: ms}, TS: time.Now().UnixMilli(), Data: []byte(`"` + id + `"`)}
	p.Encode()
	return p
}

// deliverAndWait delivers pushes and waits until both trackers fired.
func deliverAndWait(t *testing.T, sys *System, pushes ...*wire.Push) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(2)
	sys.Deliver(pushes, wg.Done, wg.Done)
	waitGroup(t, &wg, "a delivered batch was never accepted and written")
}

func waitGroup(t *testing.T, wg *sync.WaitGroup, failure string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal(failure)
	}
}

func waitWrote(t *testing.T, s *recSocket, sub string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !s.wrote(sub) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never written", sub)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A directory shard that panics in the middle of a batch closes every session it
// held with 1011, so that their clients resume from history (nothing is lost),
// settles the batch (the inbox and the router do not wait for it forever), and
// works again for the sessions that come next.
func TestShardPanicClosesItsSessionsAndRecovers(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	sys := New(Config{Node: "n", Shards: 1, MaxPendingBytes: 1 << 20, PingInterval: time.Hour},
		Deps{History: nopHistory{}, Cursors: nopCursors{}, Presence: readyPresence{},
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: m})
	defer func() { _ = sys.Shutdown(context.Background()) }()
	first := newRecSocket()
	if _, err := sys.Open(SessionSpec{ID: "s1", User: "alice"}, first); err != nil {
		t.Fatal(err)
	}
	for ms := uint64(1); !first.wrote(`"p1"`); ms++ { // until the session is live
		deliverAndWait(t, sys, userPush("alice", "p1", ms))
		time.Sleep(5 * time.Millisecond)
	}

	// A nil push makes the shard panic after it offered p2.
	var wg sync.WaitGroup
	wg.Add(2)
	acc, wr := newTracker(wg.Done), newTracker(wg.Done)
	sys.sys.Root.Send(sys.shards[0], &deliver{pushes: []*wire.Push{userPush("alice", "p2", 1000), nil}, accepted: acc, written: wr})
	waitGroup(t, &wg, "the batch the shard failed on was never settled")
	select {
	case code := <-first.closed:
		if code != wire.CloseInternal {
			t.Fatalf("closed with %d, want 1011", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the shard's session was not closed after the shard panicked")
	}
	if n := testCounter(m.ShardPanics); n != 1 {
		t.Fatalf("herald_directory_panics_total = %v", n)
	}

	second := newRecSocket()
	if _, err := sys.Open(SessionSpec{ID: "s2", User: "alice"}, second); err != nil {
		t.Fatal(err)
	}
	for ms := uint64(2000); !second.wrote(`"p3"`); ms++ {
		deliverAndWait(t, sys, userPush("alice", "p3", ms))
		time.Sleep(5 * time.Millisecond)
	}
}

func testCounter(c prometheus.Counter) float64 {
	var d dto.Metric
	_ = c.Write(&d)
	return d.GetCounter().GetValue()
}
