package actors

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/herald-push/herald/wire"
)

// Where a session's user stream starts, and what the client gets before the first
// live push: the client's since wins over the device's cursor, which wins over the
// history top. Only a resume (since or cursor) is replayed with Replay and ends
// with recovered; a start at the top replays with ReplayAfter (whatever was
// appended between the top read and the presence write) and says nothing.
func TestSessionStartsWhereTheClientLeftOff(t *testing.T) {
	u := wire.User("alice")
	cases := []struct {
		name       string
		spec       SessionSpec
		cursor     bool // the device alice/phone has cursor 2-0
		trimmed    bool // history no longer holds all of it
		wantFrames []string
		wantCall   string
	}{
		{"history top", SessionSpec{}, false, false,
			[]string{"welcome 3-0", "push p4"}, "after u:alice 3-0"},
		{"device without a cursor", SessionSpec{Device: "phone"}, false, false,
			[]string{"welcome 3-0", "push p4"}, "after u:alice 3-0"},
		{"device cursor", SessionSpec{Device: "phone"}, true, false,
			[]string{"welcome 2-0", "push h3", "recovered u:alice true", "push p4"}, "replay u:alice 2-0"},
		{"since beats the cursor", SessionSpec{Device: "phone", Since: wire.Offset{Ms: 1}, HasSince: true}, true, false,
			[]string{"welcome 1-0", "push h2", "push h3", "recovered u:alice true", "push p4"}, "replay u:alice 1-0"},
		{"trimmed history", SessionSpec{Since: wire.Offset{Ms: 1}, HasSince: true}, false, true,
			[]string{"welcome 1-0", "push h2", "push h3", "recovered u:alice false", "push p4"}, "replay u:alice 1-0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.hist.add(u, 1, 2, 3)
			h.hist.trimmed[u] = tc.trimmed
			if tc.cursor {
				h.cur.saved["alice/phone"] = wire.Offset{Ms: 2}
			}
			spec := tc.spec
			spec.User, spec.ID = "alice", "s1"
			_, sock := h.open(spec)
			h.announced(u, 1)
			// A live copy of a pushed entry (offset 3) and a new one: only the new
			// one is written once the replay is done.
			deliverAndWait(t, h.sys, pushAt(u, "h3", 3), pushAt(u, "p4", 4))
			if got := sock.frames(); !slices.Equal(got, tc.wantFrames) {
				t.Fatalf("frames %q, want %q", got, tc.wantFrames)
			}
			if !slices.Contains(h.hist.callList(), tc.wantCall) {
				t.Fatalf("history calls %q, want %q among them", h.hist.callList(), tc.wantCall)
			}
			if !sock.wrote(`"session":"s1","node":"n1","user":"alice"`) {
				t.Fatal("the welcome does not name the session, the node and the user")
			}
		})
	}
}

// Redis errors while a session starts are waited out: the cursor and the top are
// read again, and a replay that failed half-way resumes after the last push it
// wrote, so the client gets each push once.
func TestSessionRetriesRedisReadsWhileStarting(t *testing.T) {
	u := wire.User("alice")
	t.Run("cursor and top", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.hist.add(u, 1, 2, 3)
		h.cur.fail, h.hist.failTop = 2, 2
		_, sock := h.open(SessionSpec{User: "alice", Device: "phone"})
		waitFrames(t, sock, "welcome 3-0")
		if n := h.cur.getCount(); n != 3 {
			t.Errorf("cursor read %d times, want 3 (2 failures)", n)
		}
		if n := countCalls(h.hist.callList(), "top u:alice"); n != 3 {
			t.Errorf("top read %d times, want 3 (2 failures)", n)
		}
	})
	t.Run("replay", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.hist.add(u, 1, 2, 3)
		h.hist.failMidReplay = 1
		_, sock := h.open(SessionSpec{User: "alice", Since: wire.Offset{Ms: 1}, HasSince: true})
		waitFrames(t, sock, "welcome 1-0", "push h2", "push h3", "recovered u:alice true")
		want := []string{"replay u:alice 1-0", "replay u:alice 2-0"}
		if got := h.hist.callList(); !slices.Equal(got, want) {
			t.Errorf("history calls %q, want %q", got, want)
		}
		if n := testCounter(h.m.Replayed); n != 2 {
			t.Errorf("herald_pushes_replayed_total = %v, want 2", n)
		}
	})
}

func countCalls(calls []string, call string) int {
	n := 0
	for _, c := range calls {
		if c == call {
			n++
		}
	}
	return n
}

// The replay starts only once Redis lists this node in the recipient's presence
// (the connect race): before that, a push routed meanwhile could be neither in
// the replay nor delivered live. The welcome comes before the presence write.
func TestReplayWaitsForThePresenceWrite(t *testing.T) {
	h := newHarness(t, Config{})
	u := wire.User("alice")
	h.hist.add(u, 1, 2)
	h.pres.hold = true
	_, sock := h.open(SessionSpec{User: "alice", Since: wire.Offset{Ms: 1}, HasSince: true})
	h.announced(u, 1)
	if got := sock.frames(); !slices.Equal(got, []string{"welcome 1-0"}) {
		t.Fatalf("frames before the presence write: %q, want the welcome alone", got)
	}
	if calls := h.hist.callList(); len(calls) != 0 {
		t.Fatalf("history read before the presence write: %q", calls)
	}
	h.pres.confirm()
	waitFrames(t, sock, "welcome 1-0", "push h2", "recovered u:alice true")
}

// Live pushes that come while the replay runs wait in the stash: the batch is
// accepted at once but written only after the replay, and a live copy of a
// replayed push is dropped.
func TestLivePushesWaitInTheStashDuringTheReplay(t *testing.T) {
	h := newHarness(t, Config{})
	u := wire.User("alice")
	h.hist.add(u, 1, 2, 3)
	h.hist.replayGate.close()
	hd, sock := h.open(SessionSpec{User: "alice", Since: wire.Offset{Ms: 1}, HasSince: true})
	eventually(t, "the replay to start", func() bool { return slices.Contains(h.hist.callList(), "replay u:alice 1-0") })

	h3, p4 := pushAt(u, "h3", 3), pushAt(u, "p4", 4)
	acc, wr := newSignal(), newSignal()
	h.sys.Deliver([]*wire.Push{h3, p4}, acc.fire, wr.fire)
	acc.wait(t, "the batch accepted")
	stashed := int64(len(h3.Frame) + len(p4.Frame))
	eventually(t, "both pushes in the stash", func() bool { return hd.out.stashed.Load() == stashed })
	if wr.fired() {
		t.Fatal("the batch counted as written while its pushes wait in the stash")
	}
	h.hist.replayGate.open()
	wr.wait(t, "the batch written after the replay")
	want := []string{"welcome 1-0", "push h2", "push h3", "recovered u:alice true", "push p4"}
	if got := sock.frames(); !slices.Equal(got, want) {
		t.Fatalf("frames %q, want %q", got, want)
	}
	if n := hd.out.stashed.Load(); n != 0 {
		t.Fatalf("%d bytes still counted as stashed once live", n)
	}
}

// Pushes stashed during a replay count against the session's byte budget, with
// those in the outbox: over it the session is closed with 4008 and counted, and
// every push it held is released (the batches do not wait for it).
func TestStashedPushesCountAgainstTheBudget(t *testing.T) {
	u := wire.User("alice")
	size := len(pushAt(u, "p0", 10).Frame)
	h := newHarness(t, Config{MaxPendingBytes: 2 * size})
	h.hist.replayGate.close()
	hd, sock := h.open(SessionSpec{User: "alice", Since: wire.Offset{Ms: 1}, HasSince: true})
	eventually(t, "the replay to start", func() bool { return len(h.hist.callList()) == 1 })

	var written []*signal
	for i := range 3 {
		wr := newSignal()
		written = append(written, wr)
		h.sys.Deliver([]*wire.Push{pushAt(u, fmt.Sprint("p", i), uint64(10+i))}, nil, wr.fire)
		if i < 2 {
			want := int64((i + 1) * size)
			eventually(t, "the push stashed", func() bool { return hd.out.stashed.Load() == want })
		}
	}
	waitClosed(t, sock, wire.CloseSlowConsumer)
	for i, wr := range written {
		wr.wait(t, fmt.Sprint("batch ", i, " released"))
	}
	if n := testCounter(h.m.SlowClosed); n != 1 {
		t.Errorf("herald_slow_consumer_closes_total = %v, want 1", n)
	}
	waitDone(t, hd)
}

// A client that stops reading: its session blocks in a write, the outbox fills up
// to the byte budget, and the next push closes the session with 4008. The
// batches over the budget are released at once, not held by the stuck write.
func TestSlowConsumerIsClosedWith4008(t *testing.T) {
	u := wire.User("alice")
	size := len(pushAt(u, "p0", 10).Frame)
	h := newHarness(t, Config{MaxPendingBytes: 3 * size})
	hd, sock := h.open(SessionSpec{User: "alice"})
	h.announced(u, 1)
	deliverAndWait(t, h.sys, pushAt(u, "p1", 11)) // live from here

	sock.writes.close()
	stuck := newSignal()
	h.sys.Deliver([]*wire.Push{pushAt(u, "p2", 12)}, nil, stuck.fire)
	eventually(t, "the session blocked in a write", func() bool { return sock.writes.waiting.Load() == 1 })
	over := newSignal()
	h.sys.Deliver([]*wire.Push{pushAt(u, "p3", 13), pushAt(u, "p4", 14), pushAt(u, "p5", 15), pushAt(u, "p6", 16)}, nil, over.fire)
	over.wait(t, "the batch over the budget released while the session is stuck")
	if n := testCounter(h.m.SlowClosed); n != 1 {
		t.Errorf("herald_slow_consumer_closes_total = %v, want 1", n)
	}
	if stuck.fired() {
		t.Fatal("the push being written was released before its write returned")
	}
	sock.writes.open()
	stuck.wait(t, "the stuck write's batch")
	waitClosed(t, sock, wire.CloseSlowConsumer)
	waitDone(t, hd)
	if got := sock.frames(); !slices.Equal(got, []string{"welcome 0-0", "push p1", "push p2"}) {
		t.Errorf("frames %q: nothing after the budget was exceeded may be written", got)
	}
}

// Over limits.max_sessions_per_user the session is closed with 4009 before its
// welcome, and counted; it held no slot, so it gives none back.
func TestSessionOverTheUserLimitIsClosedWith4009(t *testing.T) {
	h := newHarness(t, Config{})
	h.lim.enabled, h.lim.refuse = true, true
	hd, sock := h.open(SessionSpec{User: "alice"})
	waitClosed(t, sock, wire.CloseTooManySessions)
	waitDone(t, hd)
	if n := testCounter(h.m.LimitClosed); n != 1 {
		t.Errorf("herald_session_limit_closes_total = %v, want 1", n)
	}
	if got := sock.frames(); len(got) != 0 {
		t.Errorf("frames %q written to a session over the limit", got)
	}
	if _, released := h.lim.counts(); released != 0 {
		t.Errorf("%d slots released, none was held", released)
	}
}

// A session closed from this side gives its slot back before the close frame
// (the client may reconnect at once and must find it free), and only once.
func TestClosingGivesTheSlotBackBeforeTheCloseFrame(t *testing.T) {
	h := newHarness(t, Config{})
	h.lim.enabled = true
	sock := newRecSocket()
	releasedAtClose := -1
	sock.onClose = func() { _, releasedAtClose = h.lim.counts() }
	hd := h.openOn(SessionSpec{User: "alice"}, sock)
	sock.attach(hd)
	h.announced(wire.User("alice"), 1)
	h.sys.Reconnect(context.Background())
	waitClosed(t, sock, wire.CloseGoingAway)
	waitDone(t, hd)
	if releasedAtClose != 1 {
		t.Errorf("%d slots released when the close frame was sent, want 1", releasedAtClose)
	}
	if acquired, released := h.lim.counts(); acquired != 1 || released != 1 {
		t.Errorf("slots acquired %d, released %d; want 1 and 1", acquired, released)
	}
}

// A session that ends because its connection did (no close from this side)
// releases everything once: its slot, its presence, the sessions gauge; and it
// sends no close frame.
func TestPeerCloseReleasesEverythingOnce(t *testing.T) {
	h := newHarness(t, Config{})
	h.lim.enabled = true
	hd, sock := h.open(SessionSpec{User: "alice", Topics: []string{"news"}})
	h.announced(wire.User("alice"), 1)
	h.announced(wire.Topic("news"), 1)
	if g := testGauge(h.m.Sessions); g != 1 {
		t.Fatalf("herald_sessions = %v, want 1", g)
	}
	hd.PeerClosed()
	waitDone(t, hd)
	eventually(t, "presence removed for the user and the topic", func() bool {
		return h.pres.removed(wire.User("alice")) == 1 && h.pres.removed(wire.Topic("news")) == 1
	})
	if _, released := h.lim.counts(); released != 1 {
		t.Errorf("%d slots released, want 1", released)
	}
	if g := testGauge(h.m.Sessions); g != 0 {
		t.Errorf("herald_sessions = %v, want 0", g)
	}
	if codes := sock.closeCodes(); len(codes) != 0 {
		t.Errorf("close codes %v sent on a connection already gone", codes)
	}
}

// An ack counts the user push as delivered and, for a session with a device,
// becomes the device's cursor; a topic ack stores nothing.
func TestAcksGoToUndeliveredAndTheDeviceCursor(t *testing.T) {
	h := newHarness(t, Config{})
	phone, _ := h.open(SessionSpec{User: "alice", Device: "phone"})
	web, _ := h.open(SessionSpec{User: "bob"})
	frame(phone, `{"type":"ack","offset":"5-0"}`)
	frame(phone, `{"type":"ack","topic":"news","offset":"6-0"}`)
	frame(phone, `{"type":"ack","offset":"7-0"}`)
	frame(web, `{"type":"ack","offset":"8-0"}`)
	eventually(t, "three acks", func() bool { return len(h.acks.list()) == 3 })
	got := h.acks.list()
	slices.Sort(got)
	if want := []string{"alice 5-0", "alice 7-0", "bob 8-0"}; !slices.Equal(got, want) {
		t.Errorf("acks %q, want %q", got, want)
	}
	if got, want := h.cur.setList(), []string{"alice/phone 5-0", "alice/phone 7-0"}; !slices.Equal(got, want) {
		t.Errorf("cursors set %q, want %q", got, want)
	}
}

// A frame that does not decode is answered with bad_frame (with its ref) and
// counted; the session stays open and serves the next one.
func TestBadFrameIsAnsweredAndTheSessionStays(t *testing.T) {
	h := newHarness(t, Config{})
	hd, sock := h.open(SessionSpec{User: "alice"})
	waitFrames(t, sock, "welcome 0-0")
	frame(hd, `{"type":"nope","ref":"r1"}`)
	frame(hd, `{"type":"unsubscribe","topic":"news"}`)
	waitFrames(t, sock, "welcome 0-0", "error bad_frame r1", "unsubscribed news")
	if n := testCounter(h.m.BadFrames); n != 1 {
		t.Errorf("herald_bad_frames_total = %v, want 1", n)
	}
}

// Handle.Inbound blocks the connection's read loop while MaxInbound frames wait
// for the actor (TCP then pushes back on the client), and returns at once for a
// session that stopped.
func TestInboundBlocksTheReadLoopWhileFramesWait(t *testing.T) {
	var hold gate
	hold.close()
	entered := make(chan struct{}, 1)
	h := newHarness(t, Config{MaxInbound: 2, OnFrame: func(f wire.ClientFrame) {
		if f.Topic == "hold" {
			entered <- struct{}{}
			_ = hold.wait(context.Background())
		}
	}})
	hd, sock := h.open(SessionSpec{User: "alice"})
	waitFrames(t, sock, "welcome 0-0")
	frame(hd, `{"type":"unsubscribe","topic":"hold"}`)
	<-entered
	frame(hd, `{"type":"unsubscribe","topic":"a"}`)
	third := make(chan struct{})
	go func() { frame(hd, `{"type":"unsubscribe","topic":"b"}`); close(third) }()
	select {
	case <-third:
		t.Fatal("a third frame was taken while two waited for the actor")
	case <-time.After(50 * time.Millisecond):
	}
	hold.open()
	<-third
	waitFrames(t, sock, "welcome 0-0", "unsubscribed hold", "unsubscribed a", "unsubscribed b")

	hd.PeerClosed()
	waitDone(t, hd)
	returned := make(chan struct{})
	go func() {
		for range 5 {
			frame(hd, `{"type":"unsubscribe","topic":"c"}`)
		}
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("Inbound blocked on a stopped session")
	}
}
