package actors

import (
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestDispatcherRunsEveryTurn(t *testing.T) {
	spawned := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	d := newDispatcher(4, 10, spawned)
	defer d.close()
	var wg sync.WaitGroup
	n := dispatchQueue * 2 // more than the queue holds: some spill to new goroutines
	wg.Add(n)
	for range n {
		d.Schedule(wg.Done)
	}
	wg.Wait()
}

// Workers all blocked (a session stuck writing to a client that stopped reading)
// must not hold up the turns queued behind them.
func TestDispatcherDoesNotQueueBehindBlockedWorkers(t *testing.T) {
	spawned := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	d := newDispatcher(2, 10, spawned)
	release, started := make(chan struct{}), make(chan struct{}, 2)
	for range 2 {
		d.Schedule(func() { started <- struct{}{}; <-release })
	}
	<-started
	<-started // both workers are blocked
	ran := make(chan struct{})
	d.Schedule(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("a turn waited behind blocked workers")
	}
	if n := testCounter(spawned); n != 1 {
		t.Errorf("herald_actor_spawned_turns_total = %v, want the turn moved off the queue", n)
	}
	close(release)
	d.close()
}

func TestDispatcherRunsTurnsAfterClose(t *testing.T) {
	spawned := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	d := newDispatcher(2, 10, spawned)
	d.close()
	d.close() // idempotent
	ran := make(chan struct{})
	d.Schedule(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("a turn scheduled after close never ran")
	}
}
