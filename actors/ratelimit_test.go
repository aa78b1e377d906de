package actors

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herald-push/herald/wire"
)

// bareSession is a session outside any actor system, for the parts that only
// write to its socket and close it.
func bareSession(cfg Config) (*session, *recSocket, *Metrics) {
	m := NewMetrics(prometheus.NewRegistry())
	sys := &System{cfg: cfg, deps: Deps{Metrics: m}}
	sock := newRecSocket()
	return &session{sys: sys, h: &Handle{sys: sys}, sock: sock}, sock, m
}

// Within one second: up to the limit frames pass; as many again are refused with
// rate_limited (and their ref); the next closes the session with 4003, counted
// once. A new second starts a new count.
func TestRateWindowRefusesThenCloses(t *testing.T) {
	s, sock, m := bareSession(Config{})
	w := rateWindow{start: time.Now().Add(time.Hour)} // a second that does not end
	var got []bool
	for i := 1; i <= 6; i++ {
		got = append(got, s.allow(&w, 2, wire.ClientFrame{Ref: fmt.Sprint("r", i)}, "too fast"))
	}
	if want := []bool{true, true, false, false, false, false}; !slices.Equal(got, want) {
		t.Fatalf("allowed %v, want %v", got, want)
	}
	if f := sock.frames(); !slices.Equal(f, []string{"error rate_limited r3", "error rate_limited r4"}) {
		t.Fatalf("frames %q", f)
	}
	if codes := sock.closeCodes(); !slices.Equal(codes, []uint16{wire.ClosePolicy}) {
		t.Fatalf("close codes %v, want one 4003", codes)
	}
	if n := testCounter(m.PolicyClosed); n != 1 {
		t.Errorf("herald_policy_closes_total = %v, want 1", n)
	}
	if n := testCounter(m.RateLimited); n != 4 {
		t.Errorf("herald_rate_limited_total = %v, want 4", n)
	}
	w.start = time.Now().Add(-time.Second)
	if !s.allow(&w, 2, wire.ClientFrame{}, "too fast") || w.count != 1 || w.refused != 0 {
		t.Fatalf("a new second did not start a new count: %+v", w)
	}
}

// A client that floods frames is closed with 4003 (limits.frames_per_second
// counts every frame, valid or not).
func TestFrameFloodIsClosedWith4003(t *testing.T) {
	h := newHarness(t, Config{FramesPerSecond: 1})
	hd, sock := h.open(SessionSpec{User: "alice"})
	flood := func() bool {
		frame(hd, `not json`)
		return len(sock.closeCodes()) > 0
	}
	if !poll(flood) {
		t.Fatal("a session flooding frames was never closed")
	}
	waitClosed(t, sock, wire.ClosePolicy)
	waitDone(t, hd)
	if n := testCounter(h.m.PolicyClosed); n != 1 {
		t.Errorf("herald_policy_closes_total = %v, want 1", n)
	}
	if !slices.Contains(sock.frames(), "error rate_limited") {
		t.Errorf("frames %q: no rate_limited before the close", sock.frames())
	}
}
