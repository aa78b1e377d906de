package main

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The trimmer returns memory while the node is quiet, never while it is busy;
// metrics that are not activity do not count.
func TestIdleTrimmerTrimsOnlyWhileQuiet(t *testing.T) {
	pushes := prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_pushes_out_total"})
	sessions := prometheus.NewGauge(prometheus.GaugeOpts{Name: "herald_sessions"})
	other := prometheus.NewCounter(prometheus.CounterOpts{Name: "unrelated_total"})
	var freed atomic.Int32
	tr := newIdleTrimmer(20*time.Millisecond, metricSum(pushes, sessions), prometheus.NewCounter(prometheus.CounterOpts{Name: "t"}))
	tr.free = func() { freed.Add(1) }
	tr.Start()
	defer tr.Stop()

	busy := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			pushes.Inc()
		}
	}
	busy(200 * time.Millisecond)
	if n := freed.Load(); n != 0 {
		t.Fatalf("trimmed %d times while pushes flowed", n)
	}
	for end := time.Now().Add(5 * time.Second); freed.Load() < 3; time.Sleep(5 * time.Millisecond) {
		other.Inc()
		if time.Now().After(end) {
			t.Fatalf("trimmed %d times in a quiet spell of 5 s, want one per 20 ms", freed.Load())
		}
	}
	sessions.Inc() // a client connects
	busy(50 * time.Millisecond)
	n := freed.Load()
	busy(200 * time.Millisecond)
	if got := freed.Load(); got > n+1 { // at most the tick that raced the first push
		t.Fatalf("trimmed %d times while busy again", got-n)
	}
}

func TestIdleTrimmerOffAndStop(t *testing.T) {
	tr := newIdleTrimmer(0, func() float64 { return 0 }, prometheus.NewCounter(prometheus.CounterOpts{Name: "t"}))
	tr.free = func() { t.Error("a trimmer with memory.idle_trim 0 trimmed") }
	tr.Start()
	tr.Stop()
	tr.Stop() // idempotent
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
	}
}
