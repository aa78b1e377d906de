package streams_test

import (
	"testing"
	"time"

	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

// The first matching rule decides a topic's history; users and unmatched topics
// keep the node's; a rule without a TTL takes history.ttl.
func TestHistoryPolicyFirstMatchWins(t *testing.T) {
	p := streams.NewHistoryPolicy(24*time.Hour, []streams.HistoryRule{
		{Pattern: "ticker.*", Size: 0},
		{Pattern: "ticker.eur", Size: 50},
		{Pattern: "chat.*.typing", Size: 0},
		{Pattern: "chat.*", Size: 200, TTL: time.Hour},
		{Pattern: "news", Size: 10},
	})
	for _, tc := range []struct {
		r        wire.Recipient
		size     int
		ttl      time.Duration
		liveOnly bool
		defaults bool
	}{
		{r: wire.Topic("ticker.eur"), size: 0, ttl: 24 * time.Hour, liveOnly: true},
		{r: wire.Topic("chat.room1.typing"), size: 0, ttl: 24 * time.Hour, liveOnly: true},
		{r: wire.Topic("chat.room1"), size: 200, ttl: time.Hour},
		{r: wire.Topic("news"), size: 10, ttl: 24 * time.Hour},
		{r: wire.Topic("newsroom"), defaults: true},
		{r: wire.User("ticker.eur"), defaults: true}, // users follow the node's history
	} {
		l := p.For(tc.r)
		if tc.defaults {
			if l != nil || p.LiveOnly(tc.r) {
				t.Errorf("%v: %+v, want the defaults", tc.r, l)
			}
			continue
		}
		if l == nil || l.Size != tc.size || l.TTL != tc.ttl || p.LiveOnly(tc.r) != tc.liveOnly {
			t.Errorf("%v: %+v, want size %d ttl %v live-only %v", tc.r, l, tc.size, tc.ttl, tc.liveOnly)
		}
	}
	var none *streams.HistoryPolicy
	if streams.NewHistoryPolicy(time.Hour, nil) != nil || none.For(wire.Topic("x")) != nil || none.LiveOnly(wire.Topic("x")) {
		t.Error("no rules: a policy that sets something")
	}
}
