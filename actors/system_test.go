package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/wire"
)

// A batch spread over several shards reaches exactly the sessions of each push's
// recipient (every session of a user, every subscriber of a topic), and its two
// callbacks run once it is settled.
func TestDeliverReachesTheRecipientsSessionsOnly(t *testing.T) {
	h := newHarness(t, Config{Shards: 4})
	socks := map[string]*recSocket{}
	for _, s := range []struct{ id, user, topic string }{
		{"u0a", "u0", ""}, {"u0b", "u0", ""}, {"u1", "u1", "news"}, {"u2", "u2", "news"}, {"u3", "u3", ""}, {"u4", "u4", ""},
	} {
		spec := SessionSpec{ID: s.id, User: s.user}
		if s.topic != "" {
			spec.Topics = []string{s.topic}
		}
		_, socks[s.id] = h.open(spec)
	}
	h.announced(wire.User("u0"), 2)
	h.announced(wire.Topic("news"), 2)
	for _, u := range []string{"u1", "u2", "u3", "u4"} {
		h.announced(wire.User(u), 1)
	}
	deliverAndWait(t, h.sys, userPush("u0", "a", 1), pushAt(wire.Topic("news"), "n", 2), userPush("u4", "b", 3), userPush("nobody", "x", 4))
	want := map[string][]string{"u0a": {"push a"}, "u0b": {"push a"}, "u1": {"push n"}, "u2": {"push n"}, "u3": nil, "u4": {"push b"}}
	for id, pushes := range want {
		var got []string
		for _, f := range socks[id].frames() {
			if strings.HasPrefix(f, "push") {
				got = append(got, f)
			}
		}
		if !slices.Equal(got, pushes) {
			t.Errorf("session %s got %q, want %q", id, got, pushes)
		}
	}
}

// A batch for nobody, or an empty one, is settled at once; the callbacks may be
// nil.
func TestDeliverWithoutSessionsSettlesAtOnce(t *testing.T) {
	h := newHarness(t, Config{})
	deliverAndWait(t, h.sys, userPush("nobody", "x", 1))
	deliverAndWait(t, h.sys)
	h.sys.Deliver([]*wire.Push{userPush("nobody", "y", 2)}, nil, nil)
}

// A session that stopped no longer holds batches back: the others write them
// and the batch is settled.
func TestDeliverAfterASessionStopped(t *testing.T) {
	h := newHarness(t, Config{})
	var socks []*recSocket
	var handles []*Handle
	for i := range 3 {
		hd, sock := h.open(SessionSpec{ID: fmt.Sprint("s", i), User: "alice"})
		handles, socks = append(handles, hd), append(socks, sock)
	}
	h.announced(wire.User("alice"), 3)
	handles[0].PeerClosed()
	waitDone(t, handles[0])
	deliverAndWait(t, h.sys, userPush("alice", "p", 1))
	for _, sock := range socks[1:] {
		waitContains(t, sock, "push p")
	}
}

// Sessions lists each registered session once, however many recipients (user,
// topics, in several shards) it is registered under; a stopped session is gone.
func TestSessionsListsEachSessionOnce(t *testing.T) {
	h := newHarness(t, Config{Shards: 4})
	a, _ := h.open(SessionSpec{User: "alice", Topics: []string{"t1", "t2", "t3", "t4", "t5"}})
	b, _ := h.open(SessionSpec{User: "bob"})
	for _, topic := range []string{"t1", "t2", "t3", "t4", "t5"} {
		h.announced(wire.Topic(topic), 1)
	}
	h.announced(wire.User("bob"), 1)
	got := h.sys.Sessions(context.Background())
	if len(got) != 2 || !slices.Contains(got, a) || !slices.Contains(got, b) {
		t.Fatalf("Sessions listed %d handles, want alice's and bob's once each", len(got))
	}
	a.PeerClosed()
	eventually(t, "alice's session gone from the directory", func() bool {
		got := h.sys.Sessions(context.Background())
		return len(got) == 1 && got[0] == b
	})
}

// Drain closes every session with 1001, counting each, waits for them to stop,
// and from then on Open refuses new sessions.
func TestDrainClosesEverySessionAndRefusesNewOnes(t *testing.T) {
	h := newHarness(t, Config{})
	handles, socks := openAnnounced(h, 5)
	if err := h.sys.Drain(context.Background(), 2, time.Millisecond); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	assertDrained(t, h, handles, socks)
}

// A batch of 0 is "all at once", not a division by zero.
func TestDrainWithoutBatches(t *testing.T) {
	h := newHarness(t, Config{})
	handles, socks := openAnnounced(h, 5)
	if err := h.sys.Drain(context.Background(), 0, time.Hour); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	assertDrained(t, h, handles, socks)
}

func openAnnounced(h *harness, n int) ([]*Handle, []*recSocket) {
	var socks []*recSocket
	var handles []*Handle
	for i := range n {
		hd, sock := h.open(SessionSpec{User: fmt.Sprint("u", i)})
		handles, socks = append(handles, hd), append(socks, sock)
		h.announced(wire.User(fmt.Sprint("u", i)), 1)
	}
	return handles, socks
}

func assertDrained(t *testing.T, h *harness, handles []*Handle, socks []*recSocket) {
	t.Helper()
	for i, hd := range handles {
		select {
		case <-hd.Done():
		default:
			t.Errorf("session %d still running after Drain returned", i)
		}
		if codes := socks[i].closeCodes(); !slices.Equal(codes, []uint16{wire.CloseGoingAway}) {
			t.Errorf("session %d closed with %v, want 1001", i, codes)
		}
	}
	if n := testCounter(h.m.DrainClosed); n != 5 {
		t.Errorf("herald_drain_closes_total = %v, want 5", n)
	}
	if _, err := h.sys.Open(SessionSpec{User: "late"}, newRecSocket()); !errors.Is(err, ErrStopped) {
		t.Fatalf("Open after Drain: %v, want ErrStopped", err)
	}
}

// Drain gives up at its deadline when a connection does not go away.
func TestDrainStopsAtItsDeadline(t *testing.T) {
	h := newHarness(t, Config{})
	sock := newRecSocket() // never reports the connection gone
	h.openOn(SessionSpec{User: "alice"}, sock)
	h.announced(wire.User("alice"), 1)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := h.sys.Drain(ctx, 200, time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain: %v, want the deadline", err)
	}
	waitClosed(t, sock, wire.CloseGoingAway)
}

// Reconnect closes every session with 1001 (their clients resume, here or
// elsewhere) and the node keeps taking sessions.
func TestReconnectKeepsTheNodeServing(t *testing.T) {
	h := newHarness(t, Config{})
	hd, sock := h.open(SessionSpec{User: "alice"})
	h.announced(wire.User("alice"), 1)
	h.sys.Reconnect(context.Background())
	waitClosed(t, sock, wire.CloseGoingAway)
	waitDone(t, hd)
	_, again := h.open(SessionSpec{User: "alice", ID: "s2"})
	waitFrames(t, again, "welcome 0-0")
}

// Shutdown waits for the sessions' Redis work, up to its context; it refuses new
// sessions from its start, and it is idempotent.
func TestShutdownWaitsForSessionsRedisWork(t *testing.T) {
	h := newHarness(t, Config{})
	h.hist.topGate.close()
	h.open(SessionSpec{User: "alice"})
	eventually(t, "the session reading the history top", func() bool { return h.hist.topGate.waiting.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.sys.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a read in flight: %v, want the deadline", err)
	}
	if _, err := h.sys.Open(SessionSpec{User: "late"}, newRecSocket()); !errors.Is(err, ErrStopped) {
		t.Fatalf("Open during Shutdown: %v, want ErrStopped", err)
	}
	h.hist.topGate.open()
	for range 2 {
		if err := h.sys.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
}
