package streams_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

// Control entries are validated like the HTTP bodies: each bad one names its fault.
func TestParseControl(t *testing.T) {
	cases := []struct {
		fields map[string]any
		want   string // "" valid, else a part of the reason
	}{
		{map[string]any{"op": "disconnect", "user": "alice"}, ""},
		{map[string]any{"op": "disconnect", "user": "alice", "device": "phone", "session": "n1-x-1", "reason": "bye", "reconnect": "true"}, ""},
		{map[string]any{"op": "revoke", "jti": "j1"}, ""},
		{map[string]any{"op": "revoke", "user": "alice", "issued_before": "1700000000"}, ""},
		{map[string]any{}, "missing op"},
		{map[string]any{"op": "ban", "user": "alice"}, "unknown op"},
		{map[string]any{"op": "disconnect"}, "missing user"},
		{map[string]any{"op": "disconnect", "user": "a b"}, "bad user id"},
		{map[string]any{"op": "disconnect", "user": "alice", "device": "a/b"}, "bad device"},
		{map[string]any{"op": "disconnect", "user": "alice", "session": "x y"}, "bad session"},
		{map[string]any{"op": "disconnect", "user": "alice", "reason": strings.Repeat("r", 124)}, "bad reason"},
		{map[string]any{"op": "disconnect", "user": "alice", "reconnect": "perhaps"}, "bad reconnect"},
		{map[string]any{"op": "disconnect", "user": "alice", "jti": "j"}, "belong to revoke"},
		{map[string]any{"op": "disconnect", "user": "alice", "extra": "1"}, `unknown field "extra"`},
		{map[string]any{"op": "revoke"}, "revoke needs"},
		{map[string]any{"op": "revoke", "user": "alice"}, "revoke needs"},
		{map[string]any{"op": "revoke", "jti": "j", "user": "alice"}, "not both"},
		{map[string]any{"op": "revoke", "user": "alice", "issued_before": "soon"}, "bad issued_before"},
		{map[string]any{"op": "revoke", "jti": "j", "reason": "x"}, "belong to disconnect"},
		{map[string]any{"op": "revoke", "jti": strings.Repeat("j", 257)}, "bad jti"},
	}
	for _, tc := range cases {
		_, err := streams.ParseControl(tc.fields)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v, want valid", tc.fields, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: %v, want an error with %q", tc.fields, err, tc.want)
		}
	}
}

// startControl runs a Control on e whose applied ops go to the returned channel.
func startControl(t *testing.T, e *env, lifetime time.Duration) (*streams.Control, *streams.Revocations, chan streams.ControlOp) {
	t.Helper()
	applied := make(chan streams.ControlOp, 100)
	rv := streams.NewRevocations(prometheus.NewGauge(prometheus.GaugeOpts{Name: "r"}))
	c := streams.NewControl(e.rdb, e.keys, streams.ControlConfig{MaxLen: 1000, TokenLifetime: lifetime, Block: 100 * time.Millisecond, DLQMaxLen: 1000},
		rv, func(o streams.ControlOp) { applied <- o }, e.log, e.metrics)
	if err := c.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Stop(ctx)
	})
	return c, rv, applied
}

// Revocations: by jti and by issued_before, known to every node (each reads the
// stream), stored in Redis for nodes that start later, forgotten once the
// tokens they name have expired.
func TestRevocations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	a, rvA, appliedA := startControl(t, e, time.Hour)
	_, rvB, appliedB := startControl(t, e, time.Hour)
	now := time.Now()
	if _, err := a.Append(ctx, streams.ControlOp{Op: streams.OpRevoke, JTI: "j1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, streams.ControlOp{Op: streams.OpRevoke, User: "bob", IssuedBefore: now.Unix()}); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []chan streams.ControlOp{appliedA, appliedB} {
		for range 2 {
			select {
			case <-ch:
			case <-time.After(5 * time.Second):
				t.Fatal("a node did not apply the revocations")
			}
		}
	}
	_, rvC, _ := startControl(t, e, time.Hour) // starts after them
	for name, rv := range map[string]*streams.Revocations{"a": rvA, "b": rvB, "c": rvC} {
		switch {
		case !rv.Revoked("alice", "j1", now):
			t.Errorf("%s: jti j1 not revoked", name)
		case rv.Revoked("alice", "j2", now):
			t.Errorf("%s: jti j2 revoked", name)
		case !rv.Revoked("bob", "", now.Add(-time.Minute)), !rv.Revoked("bob", "", time.Time{}):
			t.Errorf("%s: bob's older tokens (or without iat) not revoked", name)
		case rv.Revoked("bob", "", now.Add(time.Second)):
			t.Errorf("%s: bob's newer token revoked", name)
		}
	}
	scores, _ := e.rdb.ZRangeWithScores(ctx, e.keys.Revoked(), 0, -1).Result()
	if len(scores) != 2 {
		t.Fatalf("stored revocations %v", scores)
	}
	for _, z := range scores { // kept for the max token lifetime
		if at := time.UnixMilli(int64(z.Score)); at.Before(now.Add(59*time.Minute)) || at.After(now.Add(61*time.Minute)) {
			t.Errorf("%v forgotten at %v, want about an hour from now", z.Member, at)
		}
	}
}

// A bad entry is dead-lettered once though two nodes read it, and the nodes go
// on with the next entry. One older than half a day, which the nodes running
// then dead-lettered, is not dead-lettered again by a node that starts.
func TestControlDeadLettersOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	xaddID(t, e.rdb, e.keys.Control(), "1000-0", "op", "explode", "user", "alice")
	_, _, appliedA := startControl(t, e, time.Hour)
	_, _, appliedB := startControl(t, e, time.Hour)
	xadd(t, e.rdb, e.keys.Control(), "op", "disconnect", "user", "a b")
	xadd(t, e.rdb, e.keys.Control(), "op", "disconnect", "user", "alice")
	for _, ch := range []chan streams.ControlOp{appliedA, appliedB} {
		select {
		case o := <-ch:
			if o.User != "alice" {
				t.Fatalf("applied %+v", o)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the valid entry after the bad one was not applied")
		}
	}
	dlq := xrange(t, e.rdb, e.keys.DeadLetters())
	if len(dlq) != 1 || !strings.Contains(dlq[0].Values["reason"].(string), "bad user id") || dlq[0].Values["stream"] != "herald:ctl" {
		t.Fatalf("dead letters %v", dlq)
	}
}

// Session details and subscriber counts follow sessions, and leave with a dead
// node (the reaper) as its presence does.
func TestSessionDetailsAndCounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q := streams.NewQueries(e.rdb, e.keys, time.Minute, e.metrics)
	ctx := testCtx(t)
	dead, _ := newPresence(t, e, "dead")
	dead.Start()
	dead.Add(wire.User("alice"), nil)
	dead.Add(wire.Topic("news"), nil)
	dead.Opened("alice", "s1", "phone", time.UnixMilli(1000))
	dead.Count(wire.Topic("news"), 3)
	a, _ := newPresence(t, e, "a")
	a.Start()
	a.Opened("alice", "s2", "", time.UnixMilli(2000))
	a.Count(wire.Topic("news"), 1)
	testkit.Eventually(t, waitLong, func() error {
		s, err := q.Sessions(ctx, "alice")
		if n, _ := q.Subscribers(ctx, "news"); err != nil || len(s) != 2 || n != 4 {
			return errNotYet
		}
		return nil
	})
	devices, err := q.Devices(ctx, []string{"alice", "bob"})
	if err != nil || len(devices) != 1 || len(devices["alice"]) != 1 || devices["alice"][0] != "phone" {
		t.Fatalf("devices %v %v", devices, err)
	}
	// "dead" stops heartbeating (it never did): a's cluster reaps it.
	if err := e.rdb.ZAdd(ctx, e.keys.Nodes(), redis.Z{Score: float64(time.Now().Add(-time.Minute).UnixMilli()), Member: "dead"}).Err(); err != nil {
		t.Fatal(err)
	}
	startCluster(t, e, "a", a, nil)
	testkit.Eventually(t, waitLong, func() error {
		s, _ := q.Sessions(ctx, "alice")
		if n, _ := q.Subscribers(ctx, "news"); len(s) != 1 || s[0].Session != "s2" || s[0].Node != "a" || s[0].Since != 2000 || n != 1 {
			return errNotYet
		}
		return nil
	})
	a.Closed("alice", "s2")
	a.Count(wire.Topic("news"), 0)
	testkit.Eventually(t, waitLong, func() error {
		if e.rdb.Exists(ctx, e.keys.SessionDetails("alice"), e.keys.Subscribers("news")).Val() != 0 {
			return errNotYet
		}
		return nil
	})
}

// With redis.wait_replicas, a disconnect or revoke is confirmed only once a
// replica has it.
func TestControlAppendWaitsForReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, _, _ := startControl(t, e, time.Hour)
	c.WaitReplicas(1, 100*time.Millisecond)
	_, err := c.Append(testCtx(t), streams.ControlOp{Op: streams.OpRevoke, JTI: "j1"})
	if !errors.Is(err, streams.ErrNotReplicated) {
		t.Fatalf("append without a replica: %v, want ErrNotReplicated", err)
	}
	redistest.StartReplica(t, e.srv)
	testkit.Eventually(t, waitLong, func() error {
		_, err := c.Append(testCtx(t), streams.ControlOp{Op: streams.OpDisconnect, User: "alice"})
		return err
	})
}

// A node that starts once the stream was trimmed past a revocation's entry
// knows it from the stored revocations; an expired one it does not load.
func TestControlLoadsStoredRevocationsAtStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	later := float64(time.Now().Add(time.Hour).UnixMilli())
	past := float64(time.Now().Add(-time.Minute).UnixMilli())
	if err := e.rdb.ZAdd(ctx, e.keys.Revoked(), redis.Z{Score: later, Member: "jti:j9"},
		redis.Z{Score: later, Member: "user:bob:1700000000"}, redis.Z{Score: past, Member: "jti:j-old"}).Err(); err != nil {
		t.Fatal(err)
	}
	_, rv, _ := startControl(t, e, time.Hour)
	switch {
	case !rv.Revoked("alice", "j9", time.Now()):
		t.Error("jti j9 not revoked")
	case !rv.Revoked("bob", "", time.Unix(1699999999, 0)):
		t.Error("bob's token issued before 1700000000 not revoked")
	case rv.Revoked("bob", "", time.Unix(1700000000, 0)):
		t.Error("bob's token issued at the cutoff revoked")
	case rv.Revoked("alice", "j-old", time.Now()):
		t.Error("an expired revocation loaded")
	}
}

// A reader cut off from Redis loads the stored revocations again once it reads
// again: the stream may have been trimmed past what it missed.
func TestControlReloadsRevocationsAfterAnOutage(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, redistest.Options{Args: []string{"--appendonly", "yes", "--appendfsync", "always"}})
	e.withoutRetries(t)
	_, rv, _ := startControl(t, e, time.Hour)
	// Stored by another node while this one is cut off; its entry is trimmed.
	forget := float64(time.Now().Add(time.Hour).UnixMilli())
	if err := e.rdb.ZAdd(testCtx(t), e.keys.Revoked(), redis.Z{Score: forget, Member: "jti:j9"}).Err(); err != nil {
		t.Fatal(err)
	}
	e.srv.Kill()
	testkit.Eventually(t, waitLong, func() error {
		if counter(t, e.metrics.RedisErrors.WithLabelValues("control")) < 1 {
			return errNotYet
		}
		return nil
	})
	if rv.Revoked("alice", "j9", time.Now()) {
		t.Fatal("known before the outage: the test proves nothing")
	}
	e.srv.Restart(t)
	testkit.Eventually(t, waitLong, func() error {
		if !rv.Revoked("alice", "j9", time.Now()) {
			return errNotYet
		}
		return nil
	})
}

// Redis lost the session details: Resync writes again the sessions the node's
// list gives, not one whose Closed came first (Gone), even if the list was
// taken before.
func TestSessionDetailsAreWrittenAgainOnResync(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q := streams.NewQueries(e.rdb, e.keys, time.Minute, e.metrics)
	ctx := testCtx(t)
	p, _ := newPresence(t, e, "a")
	var closed atomic.Bool
	p.ListSessionsWith(func(context.Context) []streams.LocalSession {
		return []streams.LocalSession{
			{ID: "s1", User: "alice", Device: "phone", OpenedMs: 1000, Gone: func() bool { return false }},
			{ID: "s2", User: "alice", OpenedMs: 2000, Gone: closed.Load},
		}
	})
	p.Start()
	p.Opened("alice", "s1", "phone", time.UnixMilli(1000))
	p.Opened("alice", "s2", "", time.UnixMilli(2000))
	waitSessions := func(want string) {
		t.Helper()
		testkit.Eventually(t, waitLong, func() error {
			s, err := q.Sessions(ctx, "alice")
			var got []string
			for _, d := range s {
				got = append(got, fmt.Sprintf("%s@%s/%s/%d", d.Session, d.Node, d.Device, d.Since))
			}
			sort.Strings(got)
			if err != nil || strings.Join(got, " ") != want {
				return fmt.Errorf("sessions %v (%v), want %s", got, err, want)
			}
			return nil
		})
	}
	waitSessions("s1@a/phone/1000 s2@a//2000")
	closed.Store(true)
	p.Closed("alice", "s2")
	waitSessions("s1@a/phone/1000")
	if err := e.rdb.FlushAll(ctx).Err(); err != nil { // Redis lost its data
		t.Fatal(err)
	}
	p.Resync()
	waitSessions("s1@a/phone/1000")
}

// A revoke Redis refused is not held by the node either: the API answers 503
// and the caller retries; no node refuses the token on a write that failed.
func TestRevokeRefusedByRedisIsNotHeld(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rv := streams.NewRevocations(prometheus.NewGauge(prometheus.GaugeOpts{Name: "r"}))
	down := redis.NewClient(&redis.Options{Addr: testkit.FreeAddr(t), MaxRetries: -1})
	t.Cleanup(func() { _ = down.Close() })
	c := streams.NewControl(down, e.keys, streams.ControlConfig{MaxLen: 1000, TokenLifetime: time.Hour, Block: 100 * time.Millisecond, DLQMaxLen: 1000},
		rv, func(streams.ControlOp) {}, e.log, e.metrics)
	if _, err := c.Append(testCtx(t), streams.ControlOp{Op: streams.OpRevoke, JTI: "j1"}); err == nil {
		t.Fatal("Append succeeded without Redis")
	}
	if rv.Revoked("alice", "j1", time.Now()) {
		t.Fatal("the node holds a revocation Redis never stored")
	}
}
