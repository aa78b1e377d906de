package streams_test

import (
	"errors"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
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
