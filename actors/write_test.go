package actors

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/herald-push/herald/wire"
)

// framed is a push whose frame is n bytes: its name padded with dots.
func framed(name string, n int) *wire.Push {
	f := append([]byte(name), bytes.Repeat([]byte("."), n-len(name))...)
	return &wire.Push{ID: name, Frame: f}
}

// Pushes are packed into WebSocket messages of up to MaxMessageBytes, joined by
// "\n" (docs/PROTOCOL.md section 4); a push larger than that goes alone. Each
// push is counted once.
func TestWritePushesPacksMessagesUpToMaxMessageBytes(t *testing.T) {
	s, sock, m := bareSession(Config{MaxMessageBytes: 100})
	var pushes []*wire.Push
	for i := 1; i <= 5; i++ {
		pushes = append(pushes, framed(fmt.Sprint("p", i), 40))
	}
	pushes = append(pushes, framed("big", 150), framed("p6", 40))
	for range 2 { // the second time on a reused scratch
		if err := s.sys.writePushes(sock, pushes); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, msg := range sock.msgs {
		got = append(got, string(bytes.ReplaceAll(msg, []byte("."), nil)))
	}
	want := []string{"p1\np2", "p3\np4", "p5", "big", "p6"}
	if !slices.Equal(got, append(want, want...)) {
		t.Fatalf("messages %q, want %q twice", got, want)
	}
	if n := testCounter(m.PushesOut); n != 14 {
		t.Fatalf("herald_pushes_out_total = %v, want 14", n)
	}
}

// A failed write stops the batch: it is counted, nothing is counted as written,
// and the caller gets the error.
func TestWriteErrorStopsTheBatch(t *testing.T) {
	s, sock, m := bareSession(Config{MaxMessageBytes: 100})
	sock.fail = true
	err := s.sys.writePushes(sock, []*wire.Push{framed("a", 60), framed("b", 60), framed("c", 60)})
	if err == nil {
		t.Fatal("a failed write was not reported")
	}
	if n := testCounter(m.WriteErrors); n != 1 {
		t.Fatalf("herald_write_errors_total = %v, want 1 (no write after the first failed)", n)
	}
	if n := testCounter(m.PushesOut); n != 0 {
		t.Fatalf("herald_pushes_out_total = %v after a failed write", n)
	}
}

// A live push is written only while it has not expired; latency is observed for
// each push written live.
func TestExpiredPushesAreNotWritten(t *testing.T) {
	h := newHarness(t, Config{})
	h.sys.nowMs = func() int64 { return 5000 }
	_, sock := h.open(SessionSpec{User: "alice"})
	h.announced(wire.User("alice"), 1)
	u := wire.User("alice")
	expiring := func(id string, ms uint64, expire int64) *wire.Push {
		p := pushAt(u, id, ms)
		p.Expire = expire
		return p
	}
	deliverAndWait(t, h.sys, expiring("gone", 1, 4000), expiring("now", 2, 5000), expiring("later", 3, 6000), expiring("never", 4, 0))
	if got := sock.frames(); !slices.Equal(got, []string{"welcome 0-0", "push later", "push never"}) {
		t.Fatalf("frames %q", got)
	}
}

// Over the byte budget a replaying subscription's stash refuses the push,
// releases it, and closes the session with 4008, counted once.
func TestStashOverTheBudgetClosesTheSession(t *testing.T) {
	s, sock, m := bareSession(Config{})
	s.h.out.limit = 100
	sb := &sub{}
	wr := newSignal()
	written := newTracker(wr.fire)
	for range 4 {
		written.add()
		s.toStash(sb, outItem{push: push(40), written: written})
	}
	if len(sb.stash) != 2 || sb.stashBytes != 80 || s.h.out.stashed.Load() != 80 {
		t.Fatalf("stash holds %d pushes (%d bytes, %d counted), want 2 (80)", len(sb.stash), sb.stashBytes, s.h.out.stashed.Load())
	}
	if codes := sock.closeCodes(); !slices.Equal(codes, []uint16{wire.CloseSlowConsumer}) {
		t.Fatalf("close codes %v, want one 4008", codes)
	}
	if n := testCounter(m.SlowClosed); n != 1 {
		t.Fatalf("herald_slow_consumer_closes_total = %v, want 1", n)
	}
	releaseAll(sb.stash)
	written.release()
	if !wr.fired() {
		t.Fatal("the pushes refused by the stash were not released")
	}
}

// A session whose socket fails stops writing and counts the error; its batch is
// still settled.
func TestLiveWriteErrorIsCounted(t *testing.T) {
	h := newHarness(t, Config{})
	_, sock := h.open(SessionSpec{User: "alice"})
	h.announced(wire.User("alice"), 1)
	sock.mu.Lock()
	sock.fail = true
	sock.mu.Unlock()
	deliverAndWait(t, h.sys, userPush("alice", "p1", 1))
	if n := testCounter(h.m.WriteErrors); n != 1 {
		t.Fatalf("herald_write_errors_total = %v, want 1", n)
	}
}
