package actors

import (
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/herald-push/herald/wire"
)

// shardCtx is a shard's actor context in a test: it hands the shard one message
// and records what the shard sends. onSend, when set, sees each send as it
// happens.
type shardCtx struct {
	actor.Context
	msg    any
	sent   []sent
	onSend func(pid *actor.PID, msg any)
}

type sent struct {
	pid *actor.PID
	msg any
}

func (c *shardCtx) Message() any { return c.msg }

func (c *shardCtx) Send(pid *actor.PID, msg any) {
	if c.onSend != nil {
		c.onSend(pid, msg)
	}
	c.sent = append(c.sent, sent{pid, msg})
}

// ActorSystem is only asked for by announce, for the presence callback, which
// these tests never run.
func (c *shardCtx) ActorSystem() *actor.ActorSystem { return nil }

// handle runs msg through the shard's Receive.
func (c *shardCtx) handle(d *shard, msg any) {
	c.msg = msg
	d.Receive(c)
}

// sentTo lists the messages sent to pid.
func (c *shardCtx) sentTo(pid *actor.PID) []any {
	var out []any
	for _, s := range c.sent {
		if s.pid == pid {
			out = append(out, s.msg)
		}
	}
	return out
}

// testShard is a shard on a System with the given presence, outside any actor
// system.
func testShard(pres Presence) *shard {
	return newShard(&System{cfg: Config{PingInterval: 20 * time.Second}, deps: Deps{Presence: pres, Metrics: NewMetrics(prometheus.NewRegistry())}})
}

// testHandle is a session's handle with a 1 MiB budget and a pid of its own.
func testHandle(name string) *Handle {
	h := &Handle{id: name, user: wire.User(name)}
	h.out.limit = 1 << 20
	h.pid.Store(actor.NewPID("test", name))
	return h
}

// queuedIDs lists the ids of the pushes waiting in h's outbox.
func queuedIDs(h *Handle) []string {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	var ids []string
	for _, it := range h.out.items {
		ids = append(ids, it.push.ID)
	}
	return ids
}

// A delivered push is queued on every session registered under its recipient
// and on no other; each session is woken once; the batch is accepted at once and
// written once every session let go of its pushes.
func TestShardFansOutToTheRecipientsSessionsOnly(t *testing.T) {
	d, c := testShard(&fakePresence{}), &shardCtx{}
	a, b, x := testHandle("a"), testHandle("b"), testHandle("x")
	news := wire.Topic("news")
	for _, reg := range []*register{{wire.User("alice"), a}, {wire.User("alice"), b}, {wire.User("bob"), x}, {news, a}, {news, x}} {
		c.handle(d, reg)
	}
	acc, wr := newSignal(), newSignal()
	accepted, written := newTracker(acc.fire), newTracker(wr.fire)
	batch := []*wire.Push{userPush("alice", "a1", 1), pushAt(news, "n1", 2), userPush("carol", "c1", 3)}
	c.handle(d, &deliver{pushes: batch, accepted: accepted, written: written})
	for h, want := range map[*Handle][]string{a: {"a1", "n1"}, b: {"a1"}, x: {"n1"}} {
		if got := queuedIDs(h); !slices.Equal(got, want) {
			t.Errorf("session %s has %v queued, want %v", h.id, got, want)
		}
		if got := c.sentTo(h.pid.Load()); len(got) != 1 || got[0] != (wake{}) {
			t.Errorf("session %s was sent %v, want one wake", h.id, got)
		}
	}
	if !acc.fired() {
		t.Fatal("the batch was not accepted once queued")
	}
	for _, h := range []*Handle{a, b} {
		releaseAll(h.out.take(nil))
	}
	if wr.fired() {
		t.Fatal("the batch counted as written while a session still holds a push")
	}
	releaseAll(x.out.take(nil))
	if !wr.fired() {
		t.Fatal("the batch not written once every session let go of its pushes")
	}
}

// A session with several pushes in one delivered batch is woken once, after all
// of them are queued, so that it writes them as one message (docs/PROTOCOL.md
// section 4) instead of writing the first while the rest queue.
func TestShardWakesASessionOnceItsWholeBatchIsQueued(t *testing.T) {
	d := testShard(&fakePresence{})
	byPID := map[*actor.PID]*Handle{}
	queuedAtWake := map[*actor.PID][]int{}
	c := &shardCtx{onSend: func(pid *actor.PID, msg any) {
		if _, ok := msg.(wake); ok {
			queuedAtWake[pid] = append(queuedAtWake[pid], len(queuedIDs(byPID[pid])))
		}
	}}
	var batch []*wire.Push
	for i, user := range []string{"alice", "bob"} {
		h := testHandle(user)
		byPID[h.pid.Load()] = h
		c.handle(d, &register{r: h.user, h: h})
		for j := 0; j < 3+i; j++ { // alice 3 pushes, bob 4, interleaved below
			batch = append(batch, userPush(user, "p", uint64(j+1)))
		}
	}
	batch[1], batch[4] = batch[4], batch[1]
	c.handle(d, &deliver{pushes: batch})
	for pid, queued := range queuedAtWake {
		want := len(queuedIDs(byPID[pid]))
		if len(queued) != 1 || queued[0] != want {
			t.Errorf("%s: woken with %v pushes queued, want once with all %d", pid.Id, queued, want)
		}
	}
	if len(queuedAtWake) != 2 {
		t.Errorf("%d sessions woken, want 2", len(queuedAtWake))
	}
}

// Unregistering takes a session off its recipient; the recipient's presence is
// removed with its last local session only. Presence is asked for a session
// still registered only: one that left meanwhile would leave it stale.
func TestShardPresenceFollowsRegistrations(t *testing.T) {
	pres := &fakePresence{hold: true}
	d, c := testShard(pres), &shardCtx{}
	a, b := testHandle("a"), testHandle("b")
	news := wire.Topic("news")
	c.handle(d, &announce{r: news, h: a})
	if n := pres.added(news); n != 0 {
		t.Fatalf("presence added %d times for a session not registered", n)
	}
	c.handle(d, &register{r: news, h: a})
	c.handle(d, &register{r: news, h: b})
	c.handle(d, &announce{r: news, h: a})
	if n := pres.added(news); n != 1 {
		t.Fatalf("presence added %d times for a registered session, want 1", n)
	}
	c.handle(d, &unregister{r: news, h: a})
	if n := pres.removed(news); n != 0 {
		t.Fatal("presence removed while another session is registered")
	}
	c.handle(d, &deliver{pushes: []*wire.Push{pushAt(news, "n1", 1)}})
	if len(queuedIDs(a)) != 0 || len(queuedIDs(b)) != 1 {
		t.Fatalf("after unregistering a: a has %v, b has %v queued", queuedIDs(a), queuedIDs(b))
	}
	c.handle(d, &unregister{r: news, h: b})
	if n := pres.removed(news); n != 1 {
		t.Fatalf("presence removed %d times with the last session, want 1", n)
	}
	if _, ok := d.byRcpt[news]; ok {
		t.Fatal("an empty recipient is kept in the table")
	}
}
