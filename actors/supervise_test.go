package actors

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-push/herald/wire"
)

// A directory shard that panics in the middle of a batch closes every session it
// held with 1011, so that their clients resume from history (nothing is lost),
// settles the batch (the inbox and the router do not wait for it forever), and
// restarts empty: it works again for the sessions that come next.
func TestShardPanicClosesItsSessionsAndRecovers(t *testing.T) {
	h := newHarness(t, Config{Shards: 1})
	alice, aliceSock := h.open(SessionSpec{User: "alice"})
	bob, bobSock := h.open(SessionSpec{User: "bob", Topics: []string{"news"}})
	h.announced(wire.User("alice"), 1)
	h.announced(wire.Topic("news"), 1)

	// A nil push makes the shard panic after it offered p2.
	var wg sync.WaitGroup
	wg.Add(2)
	acc, wr := newTracker(wg.Done), newTracker(wg.Done)
	h.sys.sys.Root.Send(h.sys.shards[0], &deliver{pushes: []*wire.Push{userPush("alice", "p2", 1000), nil}, accepted: acc, written: wr})
	waitGroup(t, &wg, "the batch the shard failed on was never settled")
	waitClosed(t, aliceSock, wire.CloseInternal)
	waitClosed(t, bobSock, wire.CloseInternal)
	waitDone(t, alice)
	waitDone(t, bob)
	if n := testCounter(h.m.ShardPanics); n != 1 {
		t.Fatalf("herald_directory_panics_total = %v, want 1", n)
	}

	again, sock := h.open(SessionSpec{User: "alice", ID: "s2"})
	h.announced(wire.User("alice"), 2)
	deliverAndWait(t, h.sys, userPush("alice", "p3", 2000))
	waitFrames(t, sock, "welcome 0-0", "push p3")
	if hs := h.sys.Sessions(context.Background()); len(hs) != 1 || hs[0] != again {
		t.Fatalf("after the restart the directory lists %d sessions, want only the new one", len(hs))
	}
}

// probe is an actor standing in for a session: it counts the closeReqs it gets
// until a marker.
type probe struct {
	pid    *actor.PID
	codes  chan []uint16
	closes []uint16
}

type probeMarker struct{}

func newProbe(as *actor.ActorSystem) *probe {
	p := &probe{codes: make(chan []uint16, 1)}
	p.pid = as.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *closeReq:
			p.closes = append(p.closes, m.code)
		case probeMarker:
			p.codes <- p.closes
		}
	}))
	return p
}

// received is every close code sent to the probe before now, from this goroutine.
func (p *probe) received(t *testing.T, as *actor.ActorSystem) []uint16 {
	t.Helper()
	as.Root.Send(p.pid, probeMarker{})
	select {
	case codes := <-p.codes:
		return codes
	case <-time.After(10 * time.Second):
		t.Fatal("probe never answered")
		return nil
	}
}

type fakeSupervisor struct{ restarted []*actor.PID }

func (*fakeSupervisor) Children() []*actor.PID            { return nil }
func (*fakeSupervisor) EscalateFailure(any, any)          {}
func (s *fakeSupervisor) RestartChildren(p ...*actor.PID) { s.restarted = append(s.restarted, p...) }
func (*fakeSupervisor) StopChildren(...*actor.PID)        {}
func (*fakeSupervisor) ResumeChildren(...*actor.PID)      {}

// The shard strategy closes each session the shard held once (a session listed
// under its user and a topic is one session), settles the message it failed on,
// empties the shard and restarts it; a session caught registering or announcing
// is closed too.
func TestShardSupervisorSettlesWhatTheShardFailedOn(t *testing.T) {
	h := newHarness(t, Config{Shards: 1})
	as := h.sys.sys
	d := newShard(h.sys) // a shard of its own: the harness's runs concurrently
	pid := actor.NewPID("nonhost", "test-shard")
	s := &System{sys: as, deps: h.sys.deps, shards: []*actor.PID{pid}, shardState: []*shard{d}}
	probes := map[string]*probe{}
	handle := func(name string) *Handle {
		p := newProbe(as)
		probes[name] = p
		hd := &Handle{sys: s, id: name}
		hd.pid.Store(p.pid)
		return hd
	}
	a, b, c := handle("a"), handle("b"), handle("c")
	d.byRcpt[wire.User("alice")] = []*Handle{a}
	d.byRcpt[wire.Topic("news")] = []*Handle{a, b}
	d.byRcpt[wire.User("bob")] = []*Handle{b}

	acc, wr := newSignal(), newSignal()
	sup := &fakeSupervisor{}
	shardSupervisor{s}.HandleFailure(as, sup, pid, nil, "boom", &deliver{accepted: newTracker(acc.fire), written: newTracker(wr.fire)})
	if !acc.fired() || !wr.fired() {
		t.Fatalf("batch settled: accepted %v, written %v; want both", acc.fired(), wr.fired())
	}
	if len(d.byRcpt) != 0 {
		t.Fatalf("the shard keeps %d recipients after the panic", len(d.byRcpt))
	}
	if len(sup.restarted) != 1 || !sup.restarted[0].Equal(pid) {
		t.Fatalf("restarted %v, want the shard", sup.restarted)
	}
	for _, name := range []string{"a", "b"} {
		if got := probes[name].received(t, as); len(got) != 1 || got[0] != wire.CloseInternal {
			t.Errorf("session %s got close codes %v, want one 1011", name, got)
		}
	}
	if got := probes["c"].received(t, as); len(got) != 0 {
		t.Errorf("a session of no recipient of the shard got %v", got)
	}

	shardSupervisor{s}.HandleFailure(as, sup, pid, nil, "boom", &register{r: wire.User("carol"), h: c})
	shardSupervisor{s}.HandleFailure(as, sup, pid, nil, "boom", &announce{r: wire.User("carol"), h: c})
	if got := probes["c"].received(t, as); len(got) != 2 || got[0] != wire.CloseInternal {
		t.Errorf("the session caught registering, then announcing, got %v; want 1011 twice", got)
	}
	if n := testCounter(h.m.ShardPanics); n != 3 {
		t.Errorf("herald_directory_panics_total = %v, want 3", n)
	}
}

// A session whose handling panics is stopped and closed with 1011, counted; it
// releases what it held (its slot, its presence, the sessions gauge), and the
// other sessions go on.
func TestSessionPanicClosesItWith1011(t *testing.T) {
	h := newHarness(t, Config{OnFrame: func(f wire.ClientFrame) {
		if f.Topic == "boom" {
			panic("boom")
		}
	}})
	h.lim.enabled = true
	hd, sock := h.open(SessionSpec{User: "alice"})
	_, other := h.open(SessionSpec{User: "bob"})
	h.announced(wire.User("alice"), 1)
	h.announced(wire.User("bob"), 1)

	frame(hd, `{"type":"subscribe","topic":"boom"}`)
	waitClosed(t, sock, wire.CloseInternal)
	waitDone(t, hd)
	if n := testCounter(h.m.Panics); n != 1 {
		t.Errorf("herald_session_panics_total = %v, want 1", n)
	}
	eventually(t, "alice's presence removed", func() bool { return h.pres.removed(wire.User("alice")) == 1 })
	if _, released := h.lim.counts(); released != 1 {
		t.Errorf("%d slots released, want alice's", released)
	}
	if g := testGauge(h.m.Sessions); g != 1 {
		t.Errorf("herald_sessions = %v, want 1", g)
	}
	deliverAndWait(t, h.sys, userPush("bob", "still", 10))
	waitFrames(t, other, "welcome 0-0", "push still")
}
