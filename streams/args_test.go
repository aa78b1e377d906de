package streams

import (
	"testing"
	"time"
)

// Slices handed out never overlap, and growing the arena leaves the slices
// already handed out intact (go-redis still holds them until the pipeline runs).
func TestArgArenaSlicesStayIntactAcrossGrowth(t *testing.T) {
	var a argArena
	var got [][]any
	for i := 0; i < 200; i++ {
		s := a.take(i%7 + 1)
		for j := range s {
			s[j] = i
		}
		got = append(got, s)
	}
	for i, s := range got {
		if len(s) != i%7+1 || cap(s) != len(s) {
			t.Fatalf("slice %d: len %d cap %d", i, len(s), cap(s))
		}
		for _, v := range s {
			if v != i {
				t.Fatalf("slice %d holds %v: overwritten", i, s)
			}
		}
	}
	a.reset()
	if s := a.take(3); s[0] != nil || s[1] != nil || s[2] != nil {
		t.Fatalf("after reset the arena hands out %v", s)
	}
}

func TestTTLRefresherSetsTTLOncePerInterval(t *testing.T) {
	r := newTTLRefresher(16 * time.Minute) // refresh every minute
	t0 := time.Now()
	if !r.due("k", t0) {
		t.Fatal("first push: TTL not due")
	}
	if r.due("k", t0.Add(59*time.Second)) {
		t.Fatal("TTL due again within history.ttl/16")
	}
	if !r.due("k", t0.Add(61*time.Second)) {
		t.Fatal("TTL not due after history.ttl/16")
	}
	r.forget("k")
	if !r.due("k", t0.Add(62*time.Second)) {
		t.Fatal("TTL not due after forget (a failed append)")
	}
	r.clear()
	if !r.due("k", t0.Add(63*time.Second)) {
		t.Fatal("TTL not due after clear (Redis lost its data)")
	}
}

func TestTTLRefresherIsBounded(t *testing.T) {
	r := newTTLRefresher(time.Hour)
	r.limit = 10
	now := time.Now()
	for i := 0; i < 1000; i++ {
		r.due(string(rune('a'+i%26))+time.Duration(i).String(), now)
		if len(r.set) > r.limit {
			t.Fatalf("%d keys remembered, limit %d", len(r.set), r.limit)
		}
	}
}
