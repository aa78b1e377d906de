package main

import (
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// idleTrimmer gives the heap's free memory back to the OS while the node is quiet.
// The Go runtime keeps up to about twice the live heap mapped (GOGC's headroom plus
// the scavenger's slack): after 10,000 clients connected, about 2 KB per idle
// connection that nothing uses until the next burst (bench/RESULTS.md). An idle
// node still makes some garbage (pings and pongs), which would fill that headroom
// again before the runtime's own GC every 2 minutes; so the trimmer trims every
// interval for as long as the node stays quiet: every 10 s by default, which keeps
// that garbage under about 120 bytes per connection. A trim is a forced GC and a
// scavenge, tens of milliseconds of CPU with 10,000 sessions, only when there is
// nothing else to do.
type idleTrimmer struct {
	every    time.Duration
	activity func() float64 // changes whenever the node does something that allocates
	free     func()
	trims    prometheus.Counter
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

// newIdleTrimmer trims at the end of every interval of length every (0: never)
// in which activity did not change.
func newIdleTrimmer(every time.Duration, activity func() float64, trims prometheus.Counter) *idleTrimmer {
	return &idleTrimmer{
		every: every, activity: activity, free: debug.FreeOSMemory, trims: trims,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
}

// Start runs the trimmer; Stop ends it.
func (t *idleTrimmer) Start() {
	if t.every <= 0 {
		close(t.done)
		return
	}
	go t.run()
}

func (t *idleTrimmer) run() {
	defer close(t.done)
	tick := time.NewTicker(t.every)
	defer tick.Stop()
	last := t.activity()
	for {
		select {
		case <-tick.C:
		case <-t.stop:
			return
		}
		if now := t.activity(); now != last {
			last = now
			continue
		}
		t.free()
		t.trims.Inc()
	}
}

// Stop ends the trimmer and waits for it. Idempotent.
func (t *idleTrimmer) Stop() {
	t.once.Do(func() { close(t.stop) })
	<-t.done
}

// metricSum is the sum of the current values of ms (counters and gauges): the
// trimmer's view of activity. It reads those metrics alone; gathering the whole
// registry would also make the process collector list /proc/self/fd, one entry per
// connection, on every check of a node that is meant to be idle.
func metricSum(ms ...prometheus.Metric) func() float64 {
	return func() float64 {
		var sum float64
		for _, m := range ms {
			var d dto.Metric
			if m.Write(&d) == nil {
				sum += d.GetCounter().GetValue() + d.GetGauge().GetValue()
			}
		}
		return sum
	}
}
