package notify

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/herald-push/herald/streams"
)

// Worker is the push-notification fallback of one node.
type Worker struct {
	cfg   Config
	deps  Deps
	queue *queue

	ctx    context.Context // cancelled when Stop's deadline passes: sends abort
	cancel context.CancelFunc
	stop   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

// New returns a worker; Start runs it.
func New(cfg Config, deps Deps) *Worker {
	cfg = cfg.withDefaults()
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Worker{cfg: cfg, deps: deps, queue: newQueue(cfg.QueueSize), ctx: ctx, cancel: cancel, stop: make(chan struct{})}
}

// Start runs the reader and the senders until Stop.
func (w *Worker) Start() {
	w.wg.Add(1 + w.cfg.Concurrency)
	go w.read()
	for range w.cfg.Concurrency {
		go w.send()
	}
}

// Stop ends the worker: the reader after its current read (at most
// Config.Block), the senders after the event each is handling. When ctx ends
// first, sends in flight are cancelled; their events stay pending in Redis
// like the queued ones, for the next run of this node or another node.
// Idempotent.
func (w *Worker) Stop(ctx context.Context) error {
	w.once.Do(func() { close(w.stop) })
	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		w.cancel()
		return nil
	case <-ctx.Done():
		w.cancel()
		<-done
		return ctx.Err()
	}
}

func (w *Worker) stopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// read fills the queue from Redis: this node's own pending events first, then
// new ones and other consumers' idle ones, as long as there is room. At the
// bound it waits (counted): the events wait in Redis, nothing is dropped.
func (w *Worker) read() {
	defer w.wg.Done()
	keep := time.NewTicker(max(w.cfg.ClaimIdle/3, time.Millisecond))
	defer keep.Stop()
	lastClaim := time.Time{}
	fails := 0
	for !w.stopped() {
		select {
		case <-keep.C:
			w.keepHeld()
		default:
		}
		room := w.queue.Room()
		if room <= 0 {
			w.deps.Metrics.QueueFull.Inc()
			w.waitRoom(keep.C)
			continue
		}
		if time.Since(lastClaim) >= w.cfg.ClaimIdle/2 {
			lastClaim = time.Now()
			room -= w.claim(room)
		}
		if room > 0 && !w.readNew(room) {
			fails++
			w.pause(fails)
			continue
		}
		fails = 0
	}
}

// waitRoom waits until an event is let go, or for the next keep tick.
func (w *Worker) waitRoom(keep <-chan time.Time) {
	select {
	case <-w.stop:
	case <-w.queue.room:
	case <-keep:
		w.keepHeld()
	}
}

// readNew reads up to room events into the queue; false after a Redis error.
func (w *Worker) readNew(room int) bool {
	n := min(room, w.cfg.ReadCount)
	ctx, cancel := context.WithTimeout(w.ctx, w.cfg.Block+5*time.Second)
	defer cancel()
	evs, err := w.deps.Events.Read(ctx, n, w.cfg.Block)
	if err != nil {
		w.redisFailed("push: reading undelivered events failing", err)
		return false
	}
	w.hold(evs)
	return true
}

// claim takes over up to room events other consumers left idle; it returns
// how many it added.
func (w *Worker) claim(room int) int {
	ctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
	defer cancel()
	evs, err := w.deps.Events.Claim(ctx, w.cfg.ClaimIdle, room)
	if err != nil {
		w.redisFailed("push: claiming idle undelivered events failing", err)
		return 0
	}
	added := w.hold(evs)
	w.deps.Metrics.Reclaimed.Add(float64(added))
	return added
}

// hold queues events, each due its grace after it was appended; one this
// worker holds already is skipped.
func (w *Worker) hold(evs []streams.UndeliveredEvent) int {
	added := 0
	for _, ev := range evs {
		if w.queue.Add(&job{ev: ev, due: ev.At().Add(w.cfg.Grace)}) {
			added++
		}
	}
	w.deps.Metrics.Queue.Set(float64(w.queue.Len()))
	return added
}

// keepHeld resets the idle time of every event held, so that other nodes do
// not claim events this node is only waiting on (a long grace or backoff).
func (w *Worker) keepHeld() {
	ids := w.queue.IDs()
	for len(ids) > 0 {
		n := min(len(ids), 500)
		ctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
		err := w.deps.Events.Keep(ctx, ids[:n])
		cancel()
		if err != nil {
			w.redisFailed("push: keeping held undelivered events failing", err)
			return
		}
		ids = ids[n:]
	}
}

// pause backs off after a failed read: 100 ms doubling to 5 s.
func (w *Worker) pause(fails int) {
	d := 100 * time.Millisecond << min(fails-1, 6)
	t := time.NewTimer(min(d, 5*time.Second))
	defer t.Stop()
	select {
	case <-w.stop:
	case <-t.C:
	}
}

// redisFailed counts a failed round trip and logs it under a fixed message,
// which the node's rate-limited logger bounds.
func (w *Worker) redisFailed(msg string, err error) {
	if w.ctx.Err() != nil {
		return
	}
	w.deps.Metrics.RedisErrors.Inc()
	w.deps.Log.Warn(msg, "err", err)
}

// send handles due events until Stop.
func (w *Worker) send() {
	defer w.wg.Done()
	for {
		j := w.queue.Next(w.deps.Now, w.stop)
		if j == nil {
			return
		}
		w.handle(j)
		w.deps.Metrics.Queue.Set(float64(w.queue.Len()))
	}
}
