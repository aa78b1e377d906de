package streams

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Reads sends the small reads sessions make while they attach (history tops, replay
// pages, device cursors) to Redis in shared pipelines. Each such read on its own
// connection cost the node a wait for a pool connection, go-redis's health check of
// it, a write(2) and a read(2): at a connect burst a quarter of the node's CPU
// (bench/RESULTS.md, round 4). One goroutine sends what is queued as one pipeline,
// and while that round trip is out the next batch gathers.
type Reads struct {
	rdb     redis.UniversalClient
	queue   chan *readReq
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	metrics *Metrics
}

type readReq struct {
	cmd  redis.Cmder
	done chan struct{}
}

const (
	// readQueueLen bounds the reads waiting for a pipeline. At the bound a caller
	// waits for room (its own context still applies), counted in
	// herald_redis_reads_waited_total: a connect burst is paced by Redis rather than
	// queued without end.
	readQueueLen = 1024
	// readBatchMax bounds one pipeline, so that one batch's replies (replay pages
	// of up to 100 entries) stay a few hundred KiB at most.
	readBatchMax = 128
)

// NewReads returns a batcher of reads on rdb; Start runs it.
func NewReads(rdb redis.UniversalClient, m *Metrics) *Reads {
	return &Reads{
		rdb:     rdb,
		queue:   make(chan *readReq, readQueueLen),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		metrics: m,
	}
}

// Start runs the sender until Stop.
func (r *Reads) Start() { go r.run() }

// Stop ends the sender once its pipeline in flight returns (bounded by ctx). Reads
// still queued, and every Do after it, fail with ErrStopped. Idempotent.
func (r *Reads) Stop(ctx context.Context) {
	r.once.Do(func() { close(r.stop) })
	select {
	case <-r.done:
	case <-ctx.Done():
	}
}

// Do sends cmd in the next pipeline and waits for its reply: cmd's own result and
// error are set as if it had been run alone. It returns cmd.Err(), ctx's error when
// ctx ends first, or ErrStopped.
func (r *Reads) Do(ctx context.Context, cmd redis.Cmder) error {
	req := &readReq{cmd: cmd, done: make(chan struct{})}
	select {
	case r.queue <- req:
	default:
		r.metrics.ReadsWaited.Inc()
		select {
		case r.queue <- req:
		case <-ctx.Done():
			return ctx.Err()
		case <-r.stop:
			return ErrStopped
		}
	}
	select {
	case <-req.done:
		return cmd.Err()
	case <-ctx.Done():
		return ctx.Err()
	case <-r.done:
		select { // it may have been answered just before the sender stopped
		case <-req.done:
			return cmd.Err()
		default:
			return ErrStopped
		}
	}
}

func (r *Reads) run() {
	defer close(r.done)
	batch := make([]*readReq, 0, readBatchMax)
	for {
		select {
		case req := <-r.queue:
			batch = append(batch, req)
		case <-r.stop:
			return
		}
		batch = r.gather(batch)
		r.send(batch)
		clear(batch)
		batch = batch[:0]
	}
}

// gather adds what is already queued, up to readBatchMax.
func (r *Reads) gather(batch []*readReq) []*readReq {
	for len(batch) < readBatchMax {
		select {
		case req := <-r.queue:
			batch = append(batch, req)
		default:
			return batch
		}
	}
	return batch
}

// send runs batch as one pipeline. A pipeline that fails as a whole (a lost
// connection) sets its error on every command, which the callers retry.
func (r *Reads) send(batch []*readReq) {
	ctx := context.Background() // the pool's read and write timeouts bound it
	pipe := r.rdb.Pipeline()
	for _, q := range batch {
		_ = pipe.Process(ctx, q.cmd)
	}
	_, _ = pipe.Exec(ctx)
	r.metrics.ReadBatches.Inc()
	r.metrics.Reads.Add(float64(len(batch)))
	for _, q := range batch {
		close(q.done)
	}
}
