package streams_test

import (
	"errors"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

// A push admitted once stays admitted (a retried event counts once); past the
// limit pushes are refused until the window ends.
func TestPushLedgerAdmit(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	l := streams.NewPushLedger(e.rdb, e.keys, time.Hour, 2, 300*time.Millisecond)
	admit := func(id string) bool {
		t.Helper()
		ok, err := l.Admit(ctx, "alice", id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !admit("m1") || !admit("m1") || !admit("m2") {
		t.Fatal("the first two pushes (m1 twice) must be admitted")
	}
	if admit("m3") {
		t.Fatal("a third push within the window must be refused")
	}
	if !admit("m1") {
		t.Fatal("an admitted push stays admitted")
	}
	if ok, _ := l.Admit(ctx, "bob", "m3"); !ok {
		t.Fatal("another user has his own limit")
	}
	testkit.Eventually(t, waitLong, func() error { // the window's end, a Redis expiry
		if !admit("m4") {
			return errors.New("m4 not admitted yet")
		}
		return nil
	})
}

// Settle marks a target with its outcome and keeps the marks expiring.
func TestPushLedgerSettle(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	l := streams.NewPushLedger(e.rdb, e.keys, time.Hour, 0, time.Minute)
	if err := l.Settle(ctx, "alice", "m1", streams.TargetField("phone", "fcm"), "sent"); err != nil {
		t.Fatal(err)
	}
	got, err := l.Settled(ctx, "alice", "m1")
	if err != nil || len(got) != 1 || got["phone|fcm"] != "sent" {
		t.Fatalf("settled %v, %v", got, err)
	}
	if ttl := e.rdb.PTTL(ctx, e.keys.PushMarks("alice", "m1")).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("marks expire in %v, want within an hour", ttl)
	}
}

// The group starts at the stream's end; a group Redis lost is recreated from
// the start, so events appended after the loss are read.
func TestPushEventsGroup(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	xadd(t, e.rdb, e.keys.Undelivered(), "to", "alice", "offset", "1-0")
	p := streams.NewPushEvents(e.rdb, e.keys, "n1", 100)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if evs, err := p.Read(ctx, 10, 10*time.Millisecond); err != nil || len(evs) != 0 {
		t.Fatalf("read %v, %v: want none (the group starts at the end)", evs, err)
	}
	if err := e.rdb.Del(ctx, e.keys.Undelivered()).Err(); err != nil {
		t.Fatal(err)
	}
	id := xadd(t, e.rdb, e.keys.Undelivered(), "to", "alice", "offset", "2-0")
	var got []streams.UndeliveredEvent
	for range 3 {
		evs, err := p.Read(ctx, 10, 10*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, evs...)
	}
	if len(got) != 1 || got[0].ID != id || got[0].To != "alice" || got[0].Offset != "2-0" {
		t.Fatalf("read %+v, want the event appended after the loss", got)
	}
}

// Acks from any session raise the user's newest ack, never lower it, and
// PushLookup counts it (as it counts device cursors).
func TestPushLookupSeesAcks(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	u := streams.NewUndelivered(e.rdb, e.keys, time.Minute, e.log, e.metrics)
	u.Start()
	u.Ack("alice", wire.MustOffset("5-0"))
	u.Ack("alice", wire.MustOffset("3-0")) // older, out of order
	u.Stop(ctx)
	if got := e.rdb.Get(ctx, e.keys.Acked("alice")).Val(); got != "5-0" {
		t.Fatalf("newest ack %q, want 5-0", got)
	}
	u2 := streams.NewUndelivered(e.rdb, e.keys, time.Minute, e.log, e.metrics)
	u2.Start()
	u2.Ack("alice", wire.MustOffset("4-0")) // a later flush with an older one
	u2.Stop(ctx)
	if got := e.rdb.Get(ctx, e.keys.Acked("alice")).Val(); got != "5-0" {
		t.Fatalf("newest ack %q after an older one, want 5-0", got)
	}
	if err := e.rdb.HSet(ctx, e.keys.Cursors("bob"), "phone", "9-0").Err(); err != nil {
		t.Fatal(err)
	}
	l := streams.NewPushLookup(e.rdb, e.keys)
	for _, tt := range []struct {
		user, off string
		acked     bool
	}{{"alice", "5-0", true}, {"alice", "5-1", false}, {"bob", "9-0", true}, {"bob", "10-0", false}, {"carol", "1-0", false}} {
		st, err := l.State(ctx, tt.user, wire.MustOffset(tt.off))
		if err != nil || st.Acked != tt.acked {
			t.Errorf("%s at %s: acked %v (%v), want %v", tt.user, tt.off, st.Acked, err, tt.acked)
		}
	}
}
