package actors

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// openUp opens a session and waits for its welcome, so that the frames after it
// are the answers to the test's.
func openUp(t *testing.T, h *harness) (*Handle, *recSocket) {
	t.Helper()
	hd, sock := h.open(SessionSpec{User: "alice", Device: "phone", ID: "s1"})
	waitFrames(t, sock, "welcome 0-0")
	return hd, sock
}

// A send is stored with what the node knows of its sender and answered sent with
// the entry id.
func TestSendIsStoredAndAnsweredSent(t *testing.T) {
	h := newHarness(t, Config{})
	hd, sock := openUp(t, h)
	frame(hd, `{"type":"send","ref":"r1","data":{"a":1}}`)
	waitFrames(t, sock, "welcome 0-0", "sent r1 1-0")
	sends := h.up.sent()
	if len(sends) != 1 {
		t.Fatalf("%d sends stored, want 1", len(sends))
	}
	m := sends[0]
	if m.User != "alice" || m.Device != "phone" || m.Session != "s1" || m.Node != "n1" || m.Ref != "r1" ||
		string(m.Data) != `{"a":1}` || m.TS == 0 {
		t.Fatalf("stored %+v", m)
	}
}

// A resend of a ref in flight waits for the first answer instead of storing the
// message twice; a resend of a stored ref is answered with the first id.
func TestResendOfARefIsStoredOnce(t *testing.T) {
	h := newHarness(t, Config{})
	hd, sock := openUp(t, h)
	h.up.held.close()
	frame(hd, `{"type":"send","ref":"r1","data":1}`)
	frame(hd, `{"type":"send","ref":"r1","data":1}`)
	eventually(t, "the send in flight", func() bool { return h.up.held.waiting.Load() == 1 })
	h.up.held.open()
	waitFrames(t, sock, "welcome 0-0", "sent r1 1-0", "sent r1 1-0")
	frame(hd, `{"type":"send","ref":"r1","data":1}`)
	waitFrames(t, sock, "welcome 0-0", "sent r1 1-0", "sent r1 1-0", "sent r1 1-0")
	if sends, _ := h.up.calls(); sends != 1 {
		t.Fatalf("stored %d times, want once", sends)
	}
}

// With Redis away every waiting resend gets a retryable error, and the ref is
// forgotten: nothing was stored, so the next resend stores it.
func TestUnavailableStorageForgetsTheRef(t *testing.T) {
	h := newHarness(t, Config{})
	hd, sock := openUp(t, h)
	h.up.setErr(errRedis)
	h.up.held.close()
	frame(hd, `{"type":"send","ref":"r1","data":1}`)
	frame(hd, `{"type":"send","ref":"r1","data":1}`)
	eventually(t, "the send in flight", func() bool { return h.up.held.waiting.Load() == 1 })
	h.up.held.open()
	waitFrames(t, sock, "welcome 0-0", "error unavailable r1", "error unavailable r1")
	h.up.setErr(nil)
	frame(hd, `{"type":"send","ref":"r1","data":1}`)
	waitFrames(t, sock, "welcome 0-0", "error unavailable r1", "error unavailable r1", "sent r1 2-0")
}

// An error that is the client's fault (Upstream's rejection) is a bad_frame with
// its reason, not a retryable error.
func TestRejectedSendIsABadFrame(t *testing.T) {
	h := newHarness(t, Config{})
	hd, sock := openUp(t, h)
	h.up.setErr(rejected{"data over 64 KiB"})
	frame(hd, `{"type":"send","ref":"r1","data":1}`)
	waitFrames(t, sock, "welcome 0-0", "error bad_frame r1")
	if !sock.wrote("data over 64 KiB") {
		t.Fatal("the rejection's reason is not in the error frame")
	}
}

// At most 8 sends or publishes of a session wait for Redis; the next is refused
// with rate_limited, and taken again once one returned.
func TestUpstreamInFlightIsBounded(t *testing.T) {
	h := newHarness(t, Config{})
	hd, sock := openUp(t, h)
	h.up.held.close()
	for i := 1; i <= maxUpInflight+1; i++ {
		frame(hd, `{"type":"send","ref":"r%d","data":1}`, i)
	}
	waitFrames(t, sock, "welcome 0-0", fmt.Sprintf("error rate_limited r%d", maxUpInflight+1))
	eventually(t, "8 sends in flight", func() bool { return h.up.held.waiting.Load() == maxUpInflight })
	h.up.held.open()
	eventually(t, "8 answers", func() bool { return len(sock.frames()) == 2+maxUpInflight })
	frame(hd, `{"type":"send","ref":"r9","data":1}`)
	waitContains(t, sock, "sent r9 9-0")
}

// Publish is allowed only where the topic policy says so (none without a
// policy); it is stored as a push from the user.
func TestPublishFollowsThePolicy(t *testing.T) {
	h := newHarness(t, Config{Policy: fakePolicy{publish: map[string]bool{"room": true}}})
	hd, sock := openUp(t, h)
	frame(hd, `{"type":"publish","topic":"room","ref":"r1","data":{"t":"hi"}}`)
	frame(hd, `{"type":"publish","topic":"other","ref":"r2","data":1}`)
	waitContains(t, sock, "sent r1 1-0", "error forbidden r2 other")
	if got := h.up.published(); !slices.Equal(got, []string{`room alice {"t":"hi"}`}) {
		t.Fatalf("published %q", got)
	}

	none := newHarness(t, Config{})
	hd, sock = openUp(t, none)
	frame(hd, `{"type":"publish","topic":"room","ref":"r1","data":1}`)
	waitFrames(t, sock, "welcome 0-0", "error forbidden r1 room")
}

// A ref is remembered for RefWindow only: a resend after it is stored again.
func TestRefsAreForgottenAfterTheWindow(t *testing.T) {
	h := newHarness(t, Config{RefWindow: time.Nanosecond})
	hd, sock := openUp(t, h)
	frame(hd, `{"type":"send","ref":"r1","data":1}`)
	waitFrames(t, sock, "welcome 0-0", "sent r1 1-0")
	frame(hd, `{"type":"send","ref":"r1","data":1}`)
	waitFrames(t, sock, "welcome 0-0", "sent r1 1-0", "sent r1 2-0")
}

// Pruning keeps the refs map bounded: stored refs older than the window go, refs
// in flight and recent ones stay.
func TestPruneRefsDropsOnlyExpiredStoredRefs(t *testing.T) {
	s := &session{sys: &System{cfg: Config{RefWindow: time.Minute}}, up: &upstreamState{refs: map[string]*upOp{}}}
	old := time.Now().Add(-2 * time.Minute)
	for i := range 62 {
		s.up.refs[fmt.Sprint("old", i)] = &upOp{at: old, done: true}
	}
	s.up.refs["in flight"] = &upOp{at: old}
	s.up.refs["recent"] = &upOp{at: time.Now(), done: true}
	s.pruneRefs()
	if len(s.up.refs) != 2 || s.up.refs["in flight"] == nil || s.up.refs["recent"] == nil {
		t.Fatalf("after pruning %d refs are left, want the one in flight and the recent one", len(s.up.refs))
	}
}
