package notify_test

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/gateway/push"
	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

// Three unacknowledged pushes to a user with two targets: each target gets
// each push once, and every event is acknowledged.
func TestOneNotificationPerUnackedPushAndTarget(t *testing.T) {
	e := newEnv(t, redistest.Options{})
	e.put(t, "alice", "phone", fcm("f1"))
	e.put(t, "alice", "tablet", apns("a1"))
	s := newFakeSender()
	w := e.start(t, testConfig("n1"), s, 0)
	for _, id := range []string{"m1", "m2", "m3"} {
		e.unacked(t, "alice", id, `{"text":"hi"}`)
	}
	w.waitEvents(t, "notified", 3)
	e.waitSettled(t)
	want := map[string][]string{"f1": {"m1", "m2", "m3"}, "a1": {"m1", "m2", "m3"}}
	if got := s.byToken(); !reflect.DeepEqual(got, want) {
		t.Errorf("sent %v, want %v", got, want)
	}
	if got := w.notifications(t, "fcm", "sent"); got != 3 {
		t.Errorf("fcm sent = %v, want 3", got)
	}
}

// A device that acknowledges the push during the grace (its cursor at or past
// the offset), or any session of the user (its newest ack), cancels the
// notification; another user, who did not, gets his.
func TestAckWithinGraceSendsNothing(t *testing.T) {
	e := newEnv(t, redistest.Options{})
	e.put(t, "alice", "phone", fcm("alice-phone"))
	e.put(t, "bob", "phone", fcm("bob-phone"))
	s := newFakeSender()
	cfg := testConfig("n1")
	cfg.Grace = 2 * time.Second
	w := e.start(t, cfg, s, 0)
	off := e.unacked(t, "alice", "m1", `{}`)
	// The ack lands only once the worker holds the event: it is the grace,
	// not a read that came after the ack, that spares alice.
	testkit.Eventually(t, waitLong, func() error {
		if n := value(t, w.metrics.Queue); n < 1 {
			return fmt.Errorf("worker holds %v events, want alice's", n)
		}
		return nil
	})
	if err := e.rdb.HSet(ctxT(t), e.keys.Cursors("alice"), "laptop", off).Err(); err != nil {
		t.Fatal(err)
	}
	e.put(t, "carol", "phone", fcm("carol-phone"))
	carolOff := e.unacked(t, "carol", "m3", `{}`)
	acks := streams.NewUndelivered(e.rdb, e.keys, time.Minute, slog.New(slog.DiscardHandler), streams.NewMetrics(prometheus.NewRegistry()))
	acks.Start()
	acks.Ack("carol", wire.MustOffset(carolOff)) // a session without a device
	acks.Stop(ctxT(t))
	e.unacked(t, "bob", "m2", `{}`)
	w.waitEvents(t, "acked", 2)
	w.waitEvents(t, "notified", 1)
	e.waitSettled(t)
	if got := s.byToken(); !reflect.DeepEqual(got, map[string][]string{"bob-phone": {"m2"}}) {
		t.Errorf("sent %v, want bob's only", got)
	}
}

// A target the platform no longer knows is removed; the user's other target
// is notified.
func TestGoneTargetIsRemoved(t *testing.T) {
	e := newEnv(t, redistest.Options{})
	e.put(t, "alice", "old", fcm("stale"))
	e.put(t, "alice", "new", fcm("fresh"))
	s := newFakeSender()
	s.fail("stale", push.ErrGone)
	w := e.start(t, testConfig("n1"), s, 0)
	e.unacked(t, "alice", "m1", `{}`)
	w.waitEvents(t, "notified", 1)
	left, err := e.targets.List(ctxT(t), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].Device != "new" {
		t.Errorf("targets left %+v, want the device new only", left)
	}
	if got := w.notifications(t, "fcm", "gone"); got != 1 {
		t.Errorf("gone = %v, want 1", got)
	}
	if got := s.byToken(); !reflect.DeepEqual(got, map[string][]string{"fresh": {"m1"}}) {
		t.Errorf("sent %v", got)
	}
}

// A platform that refuses for now is retried (honouring Retry-After) until it
// accepts: one notification; the other target, accepted at once, is not sent
// again on the retries.
func TestRetryableIsRetriedThenSentOnce(t *testing.T) {
	e := newEnv(t, redistest.Options{})
	e.put(t, "alice", "phone", fcm("busy"))
	e.put(t, "alice", "tablet", apns("ok"))
	s := newFakeSender()
	s.fail("busy", &push.RetryableError{After: 50 * time.Millisecond, Err: errors.New("429")},
		&push.RetryableError{Err: errors.New("503")})
	w := e.start(t, testConfig("n1"), s, 0)
	e.unacked(t, "alice", "m1", `{}`)
	w.waitEvents(t, "notified", 1)
	e.waitSettled(t)
	want := map[string][]string{"busy": {"m1"}, "ok": {"m1"}}
	if got := s.byToken(); !reflect.DeepEqual(got, want) {
		t.Errorf("sent %v, want %v", got, want)
	}
	if s.callsTo("busy") != 3 || s.callsTo("ok") != 1 {
		t.Errorf("calls busy %d (want 3), ok %d (want 1)", s.callsTo("busy"), s.callsTo("ok"))
	}
	if got := w.notifications(t, "apns", "deduped"); got != 2 {
		t.Errorf("apns deduped = %v, want 2 (one per retry)", got)
	}
}

// A platform that keeps refusing for now is given up after max attempts: the
// event goes to the dead letters with its reason and is acknowledged.
func TestGivesUpAfterMaxAttempts(t *testing.T) {
	e := newEnv(t, redistest.Options{})
	e.put(t, "alice", "phone", fcm("down"))
	s := newFakeSender()
	busy := &push.RetryableError{Err: errors.New("503 unavailable")}
	s.fail("down", busy, busy, busy, busy)
	cfg := testConfig("n1")
	cfg.MaxAttempts = 3
	w := e.start(t, cfg, s, 0)
	e.unacked(t, "alice", "m1", `{}`)
	w.waitEvents(t, "gave_up", 1)
	e.waitSettled(t)
	if s.callsTo("down") != 3 {
		t.Errorf("calls %d, want 3", s.callsTo("down"))
	}
	dead := e.rdb.XRange(ctxT(t), e.keys.DeadLetters(), "-", "+").Val()
	if len(dead) != 1 || dead[0].Values["stream"] != e.keys.Undelivered() {
		t.Fatalf("dead letters %+v, want the event", dead)
	}
	if r, _ := dead[0].Values["reason"].(string); r != "push: gave up after 3 attempts on 1 target(s): push: retryable: 503 unavailable" {
		t.Errorf("reason %q", r)
	}
}

// A refusal for good is counted and not retried, and does not block the
// other targets.
func TestPermanentRefusalIsNotRetried(t *testing.T) {
	e := newEnv(t, redistest.Options{})
	e.put(t, "alice", "phone", fcm("bad"))
	e.put(t, "alice", "tablet", apns("ok"))
	s := newFakeSender()
	s.fail("bad", errors.New("400 invalid argument"))
	w := e.start(t, testConfig("n1"), s, 0)
	e.unacked(t, "alice", "m1", `{}`)
	w.waitEvents(t, "notified", 1)
	if s.callsTo("bad") != 1 || w.notifications(t, "fcm", "failed") != 1 {
		t.Errorf("calls %d, failed %v: want 1 and 1", s.callsTo("bad"), w.notifications(t, "fcm", "failed"))
	}
}

// Over push.rate_limit per minute, a user's pushes are skipped and counted.
func TestRateLimitSkipsAndCounts(t *testing.T) {
	e := newEnv(t, redistest.Options{})
	e.put(t, "alice", "phone", fcm("f1"))
	e.put(t, "bob", "phone", fcm("f2"))
	s := newFakeSender()
	w := e.start(t, testConfig("n1"), s, 2)
	for _, id := range []string{"m1", "m2", "m3", "m4", "m5"} {
		e.unacked(t, "alice", id, `{}`)
	}
	e.unacked(t, "bob", "b1", `{}`)
	w.waitEvents(t, "rate_limited", 3)
	w.waitEvents(t, "notified", 3)
	e.waitSettled(t)
	got := s.byToken()
	if len(got["f1"]) != 2 || len(got["f2"]) != 1 {
		t.Errorf("sent %v: want 2 of alice's 5, bob's 1", got)
	}
}

// A user without targets costs one event, counted.
func TestNoTargets(t *testing.T) {
	e := newEnv(t, redistest.Options{})
	w := e.start(t, testConfig("n1"), newFakeSender(), 0)
	e.unacked(t, "nobody", "m1", `{}`)
	w.waitEvents(t, "no_targets", 1)
	e.waitSettled(t)
}

// An event that is not one (no valid to or offset) is dead-lettered with its
// reason; one whose push history lost and that lacks the data is dropped,
// counted.
func TestBadAndLostEvents(t *testing.T) {
	e := newEnv(t, redistest.Options{})
	e.put(t, "alice", "phone", fcm("f1"))
	w := e.start(t, testConfig("n1"), newFakeSender(), 0)
	e.undelivered(t, "al ice", "1-0", "m1", `{}`)
	if err := e.rdb.XAdd(ctxT(t), &redis.XAddArgs{Stream: e.keys.Undelivered(), Values: []any{"to", "alice", "offset", "5-0"}}).Err(); err != nil {
		t.Fatal(err)
	}
	w.waitEvents(t, "bad", 1)
	w.waitEvents(t, "lost", 1)
	e.waitSettled(t)
	if n := e.rdb.XLen(ctxT(t), e.keys.DeadLetters()).Val(); n != 1 {
		t.Errorf("%d dead letters, want 1", n)
	}
}

// History no longer holding the push: the event's own fields make the
// notification, the offset's time standing for the publish time.
func TestHistoryLostUsesTheEvent(t *testing.T) {
	e := newEnv(t, redistest.Options{})
	e.put(t, "alice", "phone", fcm("f1"))
	s := newFakeSender()
	w := e.start(t, testConfig("n1"), s, 0)
	e.undelivered(t, "alice", "1700000000000-3", "m1", `{"text":"hi"}`)
	w.waitEvents(t, "notified", 1)
	want := `{"type":"push","id":"m1","offset":"1700000000000-3","to":"alice","ts":1700000000000,"data":{"text":"hi"}}`
	if got := s.all(); len(got) != 1 || string(got[0].n.Payload) != want {
		t.Errorf("sent %+v, want one with the payload %s", got, want)
	}
}
