package streams

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// presenceOp is the state a recipient's presence must reach: this node listed or not.
type presenceOp struct {
	add     bool
	waiters []func()
}

// Presence keeps the sets of nodes hosting each recipient, written in batches.
//
// Requests coalesce per recipient, the latest winning, so the pending map holds at
// most one entry per recipient this node hosts: it is bounded by the sessions, not by
// the request rate. One goroutine writes, which keeps an add and a later remove of the
// same recipient in order.
type Presence struct {
	rdb     redis.UniversalClient
	keys    Keys
	node    string
	events  presenceEvents
	log     *slog.Logger
	metrics *Metrics

	wait replicaWait // redis.wait_replicas: a presence write counts once replicated
	// held: nothing is written until Release (Cluster.heartbeat, while the node
	// may have been declared dead).
	held atomic.Bool

	details *details // the server API's session details and topic counts

	mu      sync.Mutex
	pending map[wire.Recipient]*presenceOp
	present map[wire.Recipient]struct{} // what this node lists; rewritten by Resync
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// NewPresence returns the presence writer of node; Start runs it. A user whose last
// session closes is announced offline after debounce unless back by then.
func NewPresence(rdb redis.UniversalClient, keys Keys, node string, debounce time.Duration, log *slog.Logger, m *Metrics) *Presence {
	return &Presence{
		rdb: rdb, keys: keys, node: node, log: log, metrics: m,
		events:  presenceEvents{rdb: rdb, keys: keys, debounce: debounce, metrics: m},
		pending: make(map[wire.Recipient]*presenceOp),
		details: newDetails(),
		present: make(map[wire.Recipient]struct{}),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// WaitReplicas makes each presence write count as done (its waiters run) only
// once n replicas confirmed it (WAIT, at most timeout). A session replays history
// once its presence is written and relies on live pushes after that: a presence
// write lost in a failover would leave it without them, silently, until the
// safety net rewrote it, and its client would then resume past the gap.
func (p *Presence) WaitReplicas(n int, timeout time.Duration) {
	p.wait = newReplicaWait(p.rdb, n, timeout)
}

// Add lists this node in r's presence; ready runs (on the writer's goroutine) once
// Redis has it.
func (p *Presence) Add(r wire.Recipient, ready func()) {
	p.mu.Lock()
	op := p.pending[r]
	if op == nil {
		op = &presenceOp{}
		p.pending[r] = op
	}
	op.add = true
	p.present[r] = struct{}{}
	if ready != nil {
		op.waiters = append(op.waiters, ready)
	}
	p.mu.Unlock()
	p.signal()
}

// Remove takes this node out of r's presence.
func (p *Presence) Remove(r wire.Recipient) {
	p.mu.Lock()
	op := p.pending[r]
	if op == nil {
		op = &presenceOp{}
		p.pending[r] = op
	}
	op.add = false
	delete(p.present, r)
	p.mu.Unlock()
	p.signal()
}

// Resync writes this node's whole presence again. Redis may have lost it (a restart
// without persistence, a failover); the node's sessions must stay reachable.
func (p *Presence) Resync() {
	p.mu.Lock()
	for r := range p.present {
		if _, ok := p.pending[r]; !ok {
			p.pending[r] = &presenceOp{add: true}
		}
	}
	p.mu.Unlock()
	p.details.resync(0, 1)
	p.signal()
}

// resyncSlice queues the rewrite of the recipients in slice slice of of: the
// periodic safety net goes through them a slice at a time.
func (p *Presence) resyncSlice(slice, of int) {
	p.mu.Lock()
	for r := range p.present {
		if _, ok := p.pending[r]; !ok && sliceOf(r, of) == slice {
			p.pending[r] = &presenceOp{add: true}
		}
	}
	p.mu.Unlock()
	p.details.resync(slice, of)
	p.signal()
}

// sliceOf puts r in one of of slices (FNV-1a of its name and kind).
func sliceOf(r wire.Recipient, of int) int {
	h := uint32(2166136261)
	for i := 0; i < len(r.Name); i++ {
		h = (h ^ uint32(r.Name[i])) * 16777619
	}
	h = (h ^ uint32(r.Kind)) * 16777619
	return int(h % uint32(of))
}

// Hold stops writing presence until Release; changes keep coalescing meanwhile.
func (p *Presence) Hold() { p.held.Store(true) }

// Release lets the writer write what is pending.
func (p *Presence) Release() {
	if p.held.Swap(false) {
		p.signal()
	}
}

func (p *Presence) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Start runs the writer until Stop.
func (p *Presence) Start() {
	go p.run()
}

// Stop writes what is pending (bounded by ctx) and ends the writer. Idempotent.
func (p *Presence) Stop(ctx context.Context) {
	p.once.Do(func() { close(p.stop) })
	select {
	case <-p.done:
	case <-ctx.Done():
	}
}

// resyncEvery is the safety net behind Resync: the whole presence of a node is
// written again this often even when nothing signalled a loss, a sixtieth of it
// every second. All at once, 10,000 recipients were a pipeline of 20,000 commands
// every minute: a stall of Redis for everyone, and 5 MB of garbage on an idle node.
// A sixth every 10 s was still about 20 ms of Redis time in one burst at 10,000
// sessions, in which the router's pipelines waited (bench/RESULTS.md, round 4).
const (
	resyncEvery  = time.Minute
	resyncSlices = 60
)

func (p *Presence) run() {
	defer close(p.done)
	backoff := newBackoff(50*time.Millisecond, 2*time.Second)
	resync := time.NewTicker(resyncEvery / resyncSlices)
	defer resync.Stop()
	slice := 0
	for {
		select {
		case <-resync.C:
			p.resyncSlice(slice, resyncSlices)
			slice = (slice + 1) % resyncSlices
			continue
		case <-p.wake:
			if p.held.Load() {
				continue // Release wakes the writer again
			}
		case <-p.stop:
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = p.flush(ctx)
			cancel()
			return
		}
		if err := p.flush(context.Background()); err != nil {
			p.metrics.RedisErrors.WithLabelValues("presence").Inc()
			p.signal() // what failed was put back; try again after the pause
			sleepOrStop(backoff.next(), p.stop)
			continue
		}
		backoff.reset()
	}
}

// flush writes every pending change in one pipeline; on failure the changes go back
// unless newer ones replaced them meanwhile.
func (p *Presence) flush(ctx context.Context) error {
	p.mu.Lock()
	batch := p.pending
	p.pending = make(map[wire.Recipient]*presenceOp, len(batch))
	p.mu.Unlock()
	sessions, counts := p.details.take()
	if len(batch) == 0 && len(sessions) == 0 && len(counts) == 0 {
		return nil
	}
	now := time.Now()
	cmds := make(map[wire.Recipient]*redis.Cmd, len(batch))
	var wait *pendingWait
	_, err := p.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		index := p.keys.NodeRecipients(p.node)
		for r, op := range batch {
			if op.add {
				cmds[r] = p.events.addCmd(ctx, pipe, r, p.node, now.UnixMilli())
				pipe.SAdd(ctx, index, r.String())
			} else {
				cmds[r] = p.events.removeCmd(ctx, pipe, r, p.node)
				pipe.SRem(ctx, index, r.String())
			}
		}
		p.queueDetails(ctx, pipe, sessions, counts)
		wait = p.wait.queue(ctx, pipe) // on the pipeline's one connection, after its writes
		return nil
	})
	if err == nil {
		err = p.wait.done(ctx, wait)
	}
	if err != nil {
		p.restore(batch)
		p.details.restore(sessions, counts)
		return err
	}
	var online, gone []string
	for r, op := range batch {
		for _, w := range op.waiters {
			w()
		}
		if n, _ := cmds[r].Int(); n == 1 && r.Kind == wire.KindUser {
			if op.add {
				online = append(online, r.Name)
			} else {
				gone = append(gone, r.Name)
			}
		}
	}
	_ = p.events.announce(ctx, online, gone, now) // counted; an event lost to an outage is not retried
	return nil
}

func (p *Presence) restore(batch map[wire.Recipient]*presenceOp) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for r, op := range batch {
		if newer, ok := p.pending[r]; ok {
			newer.waiters = append(op.waiters, newer.waiters...)
			continue
		}
		p.pending[r] = op
	}
}
