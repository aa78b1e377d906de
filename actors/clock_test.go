package actors

import (
	"fmt"
	"testing"
	"time"

	"github.com/herald-push/herald/wire"
)

// Sessions opened together spread their first pings over the second half of the
// interval (then ping every interval), instead of pinging together forever: Open
// schedules each session's first ping by firstPing.
func TestSessionsOpenedTogetherPingApart(t *testing.T) {
	for _, interval := range []time.Duration{time.Second, 20 * time.Second, time.Hour} {
		seen := map[time.Duration]bool{}
		for range 100 {
			d := firstPing(interval)
			if d < interval/2 || d > interval {
				t.Fatalf("interval %v: first ping after %v", interval, d)
			}
			seen[d.Truncate(interval/20)] = true
		}
		if len(seen) < 5 {
			t.Errorf("interval %v: 100 sessions' first pings fall in %d of 10 slots", interval, len(seen))
		}
	}

	const interval = 20 * time.Second
	h := newHarness(t, Config{PingInterval: interval})
	seen := map[int64]bool{}
	for i := 0; i < 100; i++ {
		before := time.Now()
		hd, _ := h.open(SessionSpec{ID: fmt.Sprint(i), User: fmt.Sprint("u", i)})
		after := time.Now()
		at := time.Unix(0, hd.pingAt.Load())
		if at.Before(before.Add(interval/2)) || at.After(after.Add(interval)) {
			t.Fatalf("session %d: first ping %v after open, want within [%v, %v]", i, at.Sub(before), interval/2, interval)
		}
		seen[at.Sub(before).Truncate(interval/20).Nanoseconds()] = true
	}
	if len(seen) < 5 {
		t.Errorf("100 sessions opened together have their first pings in %d of 10 slots", len(seen))
	}
}

// The System's clock drives the shards: sessions are pinged, and one whose token
// expired is closed with 4001 (never before its expiry) and counted; one without
// an expiry keeps pinging.
func TestClockPingsSessionsAndClosesExpiredTokens(t *testing.T) {
	h := newHarness(t, Config{PingInterval: 40 * time.Millisecond})
	start := time.Now()
	expiry := start.Add(300 * time.Millisecond)
	hd, expiring := h.open(SessionSpec{User: "alice", Expiry: expiry})
	_, lasting := h.open(SessionSpec{User: "bob"})
	waitClosed(t, expiring, wire.CloseTokenExpired)
	if now := time.Now(); now.Before(expiry) {
		t.Fatalf("closed %v before the token expired", expiry.Sub(now))
	}
	waitDone(t, hd)
	if n := testCounter(h.m.ExpiryClosed); n != 1 {
		t.Errorf("herald_token_expiry_closes_total = %v, want 1", n)
	}
	eventually(t, "bob pinged 3 times", func() bool {
		lasting.mu.Lock()
		defer lasting.mu.Unlock()
		return lasting.pings >= 3
	})
	if codes := lasting.closeCodes(); len(codes) != 0 {
		t.Fatalf("a session without expiry closed with %v", codes)
	}
}

// On each tick a shard pings the sessions whose ping is due and schedules the
// next one an interval later, and closes those whose token expired, once. It
// visits sessions under their user only: a topic's subscribers are another
// shard's users.
func TestShardClockPingsDueSessionsAndClosesExpiredOnes(t *testing.T) {
	d, c := testShard(&fakePresence{}), &shardCtx{}
	every := d.sys.cfg.PingInterval.Nanoseconds()
	now := time.Now().UnixNano()
	due, later, expired, topicOnly := testHandle("due"), testHandle("later"), testHandle("expired"), testHandle("topic")
	due.pingAt.Store(now)
	later.pingAt.Store(now + 1)
	expired.pingAt.Store(now + every)
	expired.expireAt.Store(now - 1)
	for _, h := range []*Handle{due, later, expired} {
		c.handle(d, &register{r: h.user, h: h})
	}
	c.handle(d, &register{r: wire.Topic("news"), h: topicOnly})

	c.handle(d, clockTick{now: now})
	c.handle(d, clockTick{now: now})
	if got := c.sentTo(due.pid.Load()); len(got) != 1 || got[0] != (pingTick{}) {
		t.Errorf("due session got %v, want one ping", got)
	}
	if at := due.pingAt.Load(); at != now+every {
		t.Errorf("next ping at %d, want an interval later (%d)", at, now+every)
	}
	if got := c.sentTo(expired.pid.Load()); len(got) != 1 {
		t.Errorf("expired session got %v, want one close", got)
	} else if req, ok := got[0].(*closeReq); !ok || req.code != wire.CloseTokenExpired {
		t.Errorf("expired session got %v, want a 4001 close", got[0])
	}
	if n := testCounter(d.sys.deps.Metrics.ExpiryClosed); n != 1 {
		t.Errorf("herald_token_expiry_closes_total = %v, want 1", n)
	}
	for _, h := range []*Handle{later, topicOnly} {
		if got := c.sentTo(h.pid.Load()); len(got) != 0 {
			t.Errorf("session %s got %v, want nothing", h.id, got)
		}
	}
}
