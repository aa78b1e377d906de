package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/herald-push/herald/wire"
)

// Fakes of the ports in deps.go. Each records what it was asked, can fail its
// next calls, and can hold them (a gate) until the test lets them go.

// gate holds callers until it is opened; the zero gate is open.
type gate struct {
	mu      sync.Mutex
	ch      chan struct{}
	waiting atomic.Int32 // callers held now
}

func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ch = make(chan struct{})
}

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch != nil {
		close(g.ch)
		g.ch = nil
	}
}

// wait blocks while the gate is closed. With a ctx it gives up when ctx ends.
func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	ch := g.ch
	g.mu.Unlock()
	if ch == nil {
		return nil
	}
	g.waiting.Add(1)
	defer g.waiting.Add(-1)
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errRedis = errors.New("redis: connection refused")

// fakeHistory is History over in-memory streams.
type fakeHistory struct {
	mu      sync.Mutex
	streams map[wire.Recipient][]*wire.Push
	trimmed map[wire.Recipient]bool // Replay reports complete=false
	calls   []string                // "top u:alice", "replay u:alice 1-0", "after t:news 4-0"
	failTop int                     // the next failTop calls of Top fail
	// failMidReplay: the next Replay writes its first push, then fails.
	failMidReplay int
	topGate       gate
	replayGate    gate
	ignoreCtx     bool // the replay gate ignores the caller's ctx
	liveOnly      map[wire.Recipient]bool
}

func newFakeHistory() *fakeHistory {
	return &fakeHistory{streams: map[wire.Recipient][]*wire.Push{}, trimmed: map[wire.Recipient]bool{}}
}

// add appends pushes of r at offsets ms-0, in order.
func (h *fakeHistory) add(r wire.Recipient, ms ...uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range ms {
		h.streams[r] = append(h.streams[r], pushAt(r, fmt.Sprintf("h%d", m), m))
	}
}

func (h *fakeHistory) record(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, fmt.Sprintf(format, args...))
}

func (h *fakeHistory) callList() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...)
}

func (h *fakeHistory) Top(ctx context.Context, r wire.Recipient) (wire.Offset, error) {
	h.record("top %s", r)
	if err := h.topGate.wait(ctx); err != nil {
		return wire.Offset{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failTop > 0 {
		h.failTop--
		return wire.Offset{}, errRedis
	}
	s := h.streams[r]
	if len(s) == 0 {
		return wire.Offset{}, nil
	}
	return s[len(s)-1].Offset, nil
}

func (h *fakeHistory) Replay(ctx context.Context, r wire.Recipient, since wire.Offset, page func([]*wire.Push) error) (wire.Offset, bool, error) {
	h.record("replay %s %s", r, since)
	last, err := h.replay(ctx, r, since, page)
	h.mu.Lock()
	defer h.mu.Unlock()
	return last, !h.trimmed[r], err
}

func (h *fakeHistory) LiveOnly(r wire.Recipient) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.liveOnly[r]
}

func (h *fakeHistory) ReplayAfter(ctx context.Context, r wire.Recipient, since wire.Offset, page func([]*wire.Push) error) (wire.Offset, error) {
	h.record("after %s %s", r, since)
	return h.replay(ctx, r, since, page)
}

// replay writes r's pushes after since in one page (or the first alone, then an
// error, with failMidReplay) and returns the last offset written.
func (h *fakeHistory) replay(ctx context.Context, r wire.Recipient, since wire.Offset, page func([]*wire.Push) error) (wire.Offset, error) {
	gctx := ctx
	if h.ignoreCtx {
		gctx = context.Background()
	}
	if err := h.replayGate.wait(gctx); err != nil {
		return since, err
	}
	h.mu.Lock()
	var after []*wire.Push
	for _, p := range h.streams[r] {
		if since.Less(p.Offset) {
			after = append(after, p)
		}
	}
	fail := h.failMidReplay > 0 && len(after) > 1
	if fail {
		h.failMidReplay--
		after = after[:1]
	}
	h.mu.Unlock()
	if len(after) == 0 {
		return since, nil
	}
	if err := page(after); err != nil {
		return since, err
	}
	last := after[len(after)-1].Offset
	if fail {
		return last, errRedis
	}
	return last, nil
}

// fakeCursors is Cursors in a map.
type fakeCursors struct {
	mu    sync.Mutex
	saved map[string]wire.Offset // "user/device"
	sets  []string               // "user/device offset"
	fail  int                    // the next fail calls of Get fail
	gets  int
}

func newFakeCursors() *fakeCursors { return &fakeCursors{saved: map[string]wire.Offset{}} }

func (c *fakeCursors) Get(_ context.Context, user, device string) (wire.Offset, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets++
	if c.fail > 0 {
		c.fail--
		return wire.Offset{}, false, errRedis
	}
	o, ok := c.saved[user+"/"+device]
	return o, ok, nil
}

func (c *fakeCursors) Set(user, device string, o wire.Offset) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sets = append(c.sets, user+"/"+device+" "+o.String())
}

func (c *fakeCursors) getCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets
}

func (c *fakeCursors) setList() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.sets...)
}

// fakePresence records adds and removes; with hold, an add is confirmed only when
// the test calls confirm.
type fakePresence struct {
	mu      sync.Mutex
	hold    bool
	pending []func()
	adds    []wire.Recipient
	removes []wire.Recipient
}

func (p *fakePresence) Add(r wire.Recipient, ready func()) {
	p.mu.Lock()
	p.adds = append(p.adds, r)
	if p.hold {
		p.pending = append(p.pending, ready)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	ready()
}

func (p *fakePresence) Remove(r wire.Recipient) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removes = append(p.removes, r)
}

// confirm lets the held adds through and stops holding.
func (p *fakePresence) confirm() {
	p.mu.Lock()
	pending := p.pending
	p.pending, p.hold = nil, false
	p.mu.Unlock()
	for _, ready := range pending {
		ready()
	}
}

func (p *fakePresence) added(r wire.Recipient) int   { return p.count(&p.adds, r) }
func (p *fakePresence) removed(r wire.Recipient) int { return p.count(&p.removes, r) }

func (p *fakePresence) count(list *[]wire.Recipient, r wire.Recipient) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, x := range *list {
		if x == r {
			n++
		}
	}
	return n
}

// fakeLimit is SessionLimit with a fixed answer.
type fakeLimit struct {
	mu        sync.Mutex
	enabled   bool
	refuse    bool
	acquired  int
	released  int
	onAcquire func() // runs inside Acquire
}

func (l *fakeLimit) Enabled() bool { return l.enabled }

func (l *fakeLimit) Acquire(context.Context, string) (bool, error) {
	if l.onAcquire != nil {
		l.onAcquire()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refuse {
		return false, nil
	}
	l.acquired++
	return true, nil
}

func (l *fakeLimit) Release(string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.released++
}

func (l *fakeLimit) counts() (acquired, released int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acquired, l.released
}

// fakeAcks records acks as "user offset".
type fakeAcks struct {
	mu   sync.Mutex
	acks []string
}

func (a *fakeAcks) Ack(user string, o wire.Offset) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.acks = append(a.acks, user+" "+o.String())
}

func (a *fakeAcks) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.acks...)
}

// fakeUpstream stores sends and publishes, numbering them 1-0, 2-0, ...
type fakeUpstream struct {
	mu        sync.Mutex
	sends     []wire.UpMessage
	publishes []string // "topic from data"
	err       error    // returned (nothing stored) while set
	held      gate
}

func (u *fakeUpstream) Send(ctx context.Context, m wire.UpMessage) (string, error) {
	u.mu.Lock()
	u.sends = append(u.sends, m)
	id := fmt.Sprintf("%d-0", len(u.sends)+len(u.publishes))
	u.mu.Unlock()
	return u.answer(ctx, id)
}

func (u *fakeUpstream) Publish(ctx context.Context, topic, from string, data []byte) (string, error) {
	u.mu.Lock()
	u.publishes = append(u.publishes, topic+" "+from+" "+string(data))
	id := fmt.Sprintf("%d-0", len(u.sends)+len(u.publishes))
	u.mu.Unlock()
	return u.answer(ctx, id)
}

func (u *fakeUpstream) answer(ctx context.Context, id string) (string, error) {
	if err := u.held.wait(ctx); err != nil {
		return "", err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil {
		return "", u.err
	}
	return id, nil
}

func (u *fakeUpstream) setErr(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.err = err
}

func (u *fakeUpstream) sent() []wire.UpMessage {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]wire.UpMessage(nil), u.sends...)
}

func (u *fakeUpstream) published() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.publishes...)
}

func (u *fakeUpstream) calls() (sends, publishes int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.sends), len(u.publishes)
}

// rejected is an Upstream error that is the client's fault.
type rejected struct{ reason string }

func (r rejected) Error() string  { return r.reason }
func (r rejected) Rejected() bool { return true }

// fakePolicy allows the topics listed.
type fakePolicy struct {
	subscribe, publish map[string]bool
}

func (p fakePolicy) CanSubscribe(_, topic string, _ []string) bool { return p.subscribe[topic] }
func (p fakePolicy) CanPublish(_, topic string) bool               { return p.publish[topic] }

// fakePushTargets stores targets in memory, by user and "device|kind".
type fakePushTargets struct {
	mu    sync.Mutex
	users map[string]map[string]wire.RegisteredTarget
	calls int
	err   error // returned (nothing changed) while set
	held  gate
}

func newFakePushTargets() *fakePushTargets {
	return &fakePushTargets{users: map[string]map[string]wire.RegisteredTarget{}}
}

func (p *fakePushTargets) Put(ctx context.Context, user, device string, t wire.PushTarget) error {
	return p.do(ctx, func() {
		if p.users[user] == nil {
			p.users[user] = map[string]wire.RegisteredTarget{}
		}
		p.users[user][device+"|"+t.Kind] = wire.RegisteredTarget{Device: device, Kind: t.Kind, Registered: int64(p.calls), Target: &t}
	})
}

func (p *fakePushTargets) Remove(ctx context.Context, user, device, kind string) error {
	return p.do(ctx, func() { delete(p.users[user], device+"|"+kind) })
}

func (p *fakePushTargets) List(ctx context.Context, user string) ([]wire.RegisteredTarget, error) {
	var out []wire.RegisteredTarget
	err := p.do(ctx, func() {
		for _, t := range p.users[user] {
			out = append(out, t)
		}
	})
	slices.SortFunc(out, func(a, b wire.RegisteredTarget) int { return strings.Compare(a.Device+a.Kind, b.Device+b.Kind) })
	return out, err
}

// do counts the call, waits at the gate, then fails or runs f.
func (p *fakePushTargets) do(ctx context.Context, f func()) error {
	p.mu.Lock()
	p.calls++
	p.mu.Unlock()
	if err := p.held.wait(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	f()
	return nil
}

func (p *fakePushTargets) setErr(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

func (p *fakePushTargets) callCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// target returns user's device's target of kind, if stored.
func (p *fakePushTargets) target(user, device, kind string) (wire.PushTarget, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.users[user][device+"|"+kind]
	if !ok {
		return wire.PushTarget{}, false
	}
	return *t.Target, true
}
