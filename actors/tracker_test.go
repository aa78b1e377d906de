package actors

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestTrackerRunsDoneOnceAfterEveryRelease(t *testing.T) {
	var done atomic.Int64
	tr := newTracker(func() { done.Add(1) })
	for i := 0; i < 100; i++ {
		tr.add()
	}
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); tr.release() }()
	}
	wg.Wait()
	if done.Load() != 0 {
		t.Fatal("done before the creator's hold was released")
	}
	tr.release()
	if done.Load() != 1 {
		t.Fatalf("done ran %d times", done.Load())
	}
	newTracker(nil).release() // nil trackers are no-ops
}
