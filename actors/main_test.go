package actors

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/herald-push/herald/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}

// harness is a System on fakes of every port, with the sessions it opened.
type harness struct {
	t    *testing.T
	sys  *System
	m    *Metrics
	hist *fakeHistory
	cur  *fakeCursors
	pres *fakePresence
	lim  *fakeLimit
	acks *fakeAcks
	up   *fakeUpstream
	pt   *fakePushTargets

	mu      sync.Mutex
	handles []*Handle
}

// newHarness starts a System; fields of cfg left zero get test values (one node
// "n1", 4 shards, 1 MiB budget, no pings). Configure the fakes before opening
// sessions. Cleanup opens every gate, closes the sessions and shuts down.
func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	if cfg.Node == "" {
		cfg.Node = "n1"
	}
	if cfg.Shards == 0 {
		cfg.Shards = 4
	}
	if cfg.MaxPendingBytes == 0 {
		cfg.MaxPendingBytes = 1 << 20
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = time.Hour
	}
	h := &harness{t: t, m: NewMetrics(prometheus.NewRegistry()), hist: newFakeHistory(), cur: newFakeCursors(),
		pres: &fakePresence{}, lim: &fakeLimit{}, acks: &fakeAcks{}, up: &fakeUpstream{}, pt: newFakePushTargets()}
	h.sys = New(cfg, Deps{History: h.hist, Cursors: h.cur, Presence: h.pres, Limit: h.lim, Acks: h.acks,
		Upstream: h.up, PushTargets: h.pt, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: h.m})
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.hist.topGate.open()
	h.hist.replayGate.open()
	h.up.held.open()
	h.pt.held.open()
	h.pres.confirm()
	h.mu.Lock()
	handles := h.handles
	h.mu.Unlock()
	for _, hd := range handles {
		hd.PeerClosed()
		select {
		case <-hd.Done():
		case <-time.After(10 * time.Second):
			h.t.Errorf("session %s never stopped", hd.ID())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.sys.Shutdown(ctx); err != nil {
		h.t.Errorf("Shutdown: %v", err)
	}
}

// open opens a session whose socket behaves like the gateway's: closing it ends
// the connection, and the session stops (Handle.PeerClosed, as gws OnClose).
func (h *harness) open(spec SessionSpec) (*Handle, *recSocket) {
	h.t.Helper()
	sock := newRecSocket()
	hd := h.openOn(spec, sock)
	sock.attach(hd)
	return hd, sock
}

// openOn opens a session on sock as it is.
func (h *harness) openOn(spec SessionSpec, sock *recSocket) *Handle {
	h.t.Helper()
	if spec.ID == "" {
		spec.ID = "s-" + spec.User
	}
	hd, err := h.sys.Open(spec, sock)
	if err != nil {
		h.t.Fatalf("Open: %v", err)
	}
	h.mu.Lock()
	h.handles = append(h.handles, hd)
	h.mu.Unlock()
	return hd
}

// announced waits until Presence.Add was called n times for r: the directory
// then has r's session registered, and a push delivered reaches it.
func (h *harness) announced(r wire.Recipient, n int) {
	h.t.Helper()
	eventually(h.t, fmt.Sprintf("presence of %s added %d times", r, n), func() bool { return h.pres.added(r) >= n })
}

// frame sends a client frame to the session, as the gateway's read loop does.
func frame(hd *Handle, format string, args ...any) {
	hd.Inbound([]byte(fmt.Sprintf(format, args...)))
}

// recSocket records what one session writes: each WriteText call is a message,
// each message one or more frames separated by "\n".
type recSocket struct {
	mu     sync.Mutex
	msgs   [][]byte
	codes  []uint16
	closed chan uint16 // the first close code
	pings  int
	fail   bool // writes fail, as on a broken connection
	writes gate // held writes: a client that stopped reading
	// onClose runs first in Close, to look at what the session did before it.
	onClose func()
	h       *Handle
}

func newRecSocket() *recSocket { return &recSocket{closed: make(chan uint16, 1)} }

func (s *recSocket) WriteText(parts ...[]byte) error {
	_ = s.writes.wait(context.Background())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return io.ErrClosedPipe
	}
	s.msgs = append(s.msgs, bytes.Join(parts, nil))
	return nil
}

func (s *recSocket) Ping() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pings++
	return nil
}

func (s *recSocket) Close(code uint16, _ string) {
	if s.onClose != nil {
		s.onClose()
	}
	s.mu.Lock()
	s.codes = append(s.codes, code)
	h := s.h
	s.mu.Unlock()
	select {
	case s.closed <- code:
	default:
	}
	if h != nil {
		h.PeerClosed()
	}
}

// attach makes Close end the session, as the gateway does once the connection
// is gone; a close before attach ends it now.
func (s *recSocket) attach(h *Handle) {
	s.mu.Lock()
	s.h = h
	closed := len(s.codes) > 0
	s.mu.Unlock()
	if closed {
		h.PeerClosed()
	}
}

// closeCodes lists the close codes the session sent.
func (s *recSocket) closeCodes() []uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint16(nil), s.codes...)
}

// wrote reports whether a frame holding sub was written.
func (s *recSocket) wrote(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.msgs {
		if bytes.Contains(f, []byte(sub)) {
			return true
		}
	}
	return false
}

// messageCount is how many WebSocket messages were written.
func (s *recSocket) messageCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// frames summarizes every frame written, in order: "welcome 5-0", "push h2",
// "recovered u:alice true", "subscribed news 4-0", "unsubscribed news",
// "error limit news" (code, ref, topic), "sent r1 1-0".
func (s *recSocket) frames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.msgs {
		for _, line := range bytes.Split(m, []byte("\n")) {
			out = append(out, summarize(line))
		}
	}
	return out
}

func summarize(line []byte) string {
	var f struct {
		Type, ID, Offset, To, Topic, Code, Ref string
		Complete                               bool
	}
	if err := json.Unmarshal(line, &f); err != nil {
		return "undecodable " + string(line)
	}
	switch f.Type {
	case "welcome":
		return "welcome " + f.Offset
	case "push":
		return "push " + f.ID
	case "recovered":
		r := "u:" + f.To
		if f.Topic != "" {
			r = "t:" + f.Topic
		}
		return fmt.Sprintf("recovered %s %v", r, f.Complete)
	case "subscribed":
		return "subscribed " + f.Topic + " " + f.Offset
	case "unsubscribed":
		return "unsubscribed " + f.Topic
	case "error":
		return strings.Join(slices.DeleteFunc([]string{"error", f.Code, f.Ref, f.Topic}, func(s string) bool { return s == "" }), " ")
	case "sent":
		return "sent " + f.Ref + " " + f.ID
	case "registered", "unregistered", "targets":
		return f.Type + " " + f.Ref
	}
	return f.Type
}

// waitFrames waits until the session wrote frames starting with want, and fails
// with what it wrote otherwise.
func waitFrames(t *testing.T, s *recSocket, want ...string) {
	t.Helper()
	var got []string
	ok := poll(func() bool {
		got = s.frames()
		return len(got) >= len(want)
	})
	if !ok || fmt.Sprint(got[:len(want)]) != fmt.Sprint(want) {
		t.Fatalf("frames written:\n  %q\nwant them to start with:\n  %q", got, want)
	}
}

// waitContains waits until the session wrote each of want, in any order.
func waitContains(t *testing.T, s *recSocket, want ...string) {
	t.Helper()
	var got []string
	ok := poll(func() bool {
		got = s.frames()
		for _, w := range want {
			if !slices.Contains(got, w) {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("frames written:\n  %q\nwant them to include:\n  %q", got, want)
	}
}

// waitClosed waits for the session's close code.
func waitClosed(t *testing.T, s *recSocket, want uint16) {
	t.Helper()
	select {
	case code := <-s.closed:
		if code != want {
			t.Fatalf("closed with %d, want %d", code, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("not closed; want %d", want)
	}
}

func waitDone(t *testing.T, hd *Handle) {
	t.Helper()
	select {
	case <-hd.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("session %s never stopped", hd.ID())
	}
}

// poll checks cond every few milliseconds for up to 10 s.
func poll(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !poll(cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// pushAt is an encoded push of r at offset ms-0.
func pushAt(r wire.Recipient, id string, ms uint64) *wire.Push {
	p := &wire.Push{Recipient: r, ID: id, Offset: wire.Offset{Ms: ms}, TS: time.Now().UnixMilli(), Data: []byte(`"` + id + `"`)}
	p.Encode()
	return p
}

func userPush(user, id string, ms uint64) *wire.Push { return pushAt(wire.User(user), id, ms) }

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

// signal is a callback that closes a channel, once.
type signal struct {
	once sync.Once
	ch   chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

func (s *signal) fire() { s.once.Do(func() { close(s.ch) }) }

func (s *signal) fired() bool {
	select {
	case <-s.ch:
		return true
	default:
		return false
	}
}

func (s *signal) wait(t *testing.T, what string) {
	t.Helper()
	select {
	case <-s.ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func testCounter(c prometheus.Counter) float64 {
	var d dto.Metric
	_ = c.Write(&d)
	return d.GetCounter().GetValue()
}

func testGauge(g prometheus.Gauge) float64 {
	var d dto.Metric
	_ = g.Write(&d)
	return d.GetGauge().GetValue()
}
