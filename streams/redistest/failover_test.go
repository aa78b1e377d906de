package redistest

import (
	"context"
	"testing"
	"time"
)

// The Sentinels fail a killed master over to its replica, and a failover client
// follows.
func TestSentinelFailsOver(t *testing.T) {
	g := StartSentinel(t, Options{})
	c := g.Client(t)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Do(ctx, "wait", 1, 1000).Int64(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v; want 1", n, err)
	}
	old := g.Master.Addr
	start := time.Now()
	g.Master.Kill()
	m := g.WaitFailover(t, old, 30*time.Second)
	if m != g.Replica {
		t.Fatalf("new master %s, want the replica %s", m.Addr, g.Replica.Addr)
	}
	var err error
	for time.Since(start) < 30*time.Second {
		var v string
		if v, err = c.Get(ctx, "k").Result(); err == nil {
			if v != "v" {
				t.Fatalf("k = %q after the failover", v)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failed over in %v", time.Since(start))
}
