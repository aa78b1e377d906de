package actors

import (
	"testing"
	"time"
)

// Sessions opened together spread their first pings over the second half of the
// interval (then ping every interval), instead of pinging together forever.
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
}
