package gateway

import (
	"runtime"
	"testing"
	"time"
)

// A client flooding pings while its connection is slow to write must hold at most
// one pong goroutine, not one per ping.
func TestPingFloodHoldsOnePongGoroutine(t *testing.T) {
	s := &socket{}
	s.closing.Store(true) // writes return at once, once they get the lock
	s.mu.Lock()           // a write in progress: the pong goroutine waits
	g0 := runtime.NumGoroutine()
	for range 10_000 {
		s.owePong([]byte("p"))
	}
	if d := runtime.NumGoroutine() - g0; d > 1 {
		t.Fatalf("10,000 pings started %d goroutines, want at most 1", d)
	}
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > g0 {
		if time.Now().After(deadline) {
			t.Fatal("the pong goroutine did not end")
		}
		time.Sleep(time.Millisecond)
	}
	if s.pong.Load() != nil {
		t.Fatal("a ping was left unanswered")
	}
}
