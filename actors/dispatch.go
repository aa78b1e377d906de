package actors

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// dispatcher runs actors' mailbox turns on a fixed set of long-lived goroutines.
// protoactor's default dispatcher starts a goroutine for every turn: every wake of
// a session then pays goroutine creation and grows a fresh stack through the write
// path, about a tenth of a node's CPU under load (bench/RESULTS.md).
//
// Turns wait in a bounded queue; when it is full a turn runs on a new goroutine, as
// protoactor would, and is counted. A turn can block for up to the write timeout on
// a client that stopped reading, so a few such clients could hold every worker
// while the queue waits behind them: the guard moves the queue to new goroutines
// whenever no turn finished for stallAfter.
type dispatcher struct {
	work       chan func()
	done       atomic.Uint64 // turns finished, for the guard
	closed     atomic.Bool
	stop       chan struct{}
	once       sync.Once
	wg         sync.WaitGroup
	throughput int
	spawned    prometheus.Counter
}

const (
	dispatchQueue = 16384 // a broadcast wakes every subscriber at once
	stallAfter    = 10 * time.Millisecond
)

// newDispatcher starts workers goroutines and the guard; close stops them.
func newDispatcher(workers, throughput int, spawned prometheus.Counter) *dispatcher {
	d := &dispatcher{
		work:       make(chan func(), dispatchQueue),
		stop:       make(chan struct{}),
		throughput: throughput,
		spawned:    spawned,
	}
	d.wg.Add(workers + 1)
	for range workers {
		go d.worker()
	}
	go d.guard()
	return d
}

func (d *dispatcher) Schedule(fn func()) {
	if d.closed.Load() {
		go fn()
		return
	}
	select {
	case d.work <- fn:
	default:
		d.spawned.Inc()
		go fn()
	}
}

func (d *dispatcher) Throughput() int { return d.throughput }

func (d *dispatcher) worker() {
	defer d.wg.Done()
	for {
		select {
		case fn := <-d.work:
			fn()
			d.done.Add(1)
		case <-d.stop:
			return
		}
	}
}

// guard hands the waiting turns to new goroutines when the workers made no
// progress for stallAfter while turns waited.
func (d *dispatcher) guard() {
	defer d.wg.Done()
	t := time.NewTicker(stallAfter)
	defer t.Stop()
	last := d.done.Load()
	for {
		select {
		case <-t.C:
		case <-d.stop:
			return
		}
		now := d.done.Load()
		if now == last && len(d.work) > 0 {
			d.spill()
		}
		last = now
	}
}

// spill runs every waiting turn on its own goroutine.
func (d *dispatcher) spill() {
	for {
		select {
		case fn := <-d.work:
			d.spawned.Inc()
			go fn()
		default:
			return
		}
	}
}

// close stops the workers once they finish their current turn and runs what still
// waits on new goroutines; later turns run on their own goroutines too. Idempotent.
func (d *dispatcher) close() {
	d.once.Do(func() {
		d.closed.Store(true)
		close(d.stop)
	})
	d.wg.Wait()
	d.spill()
}
