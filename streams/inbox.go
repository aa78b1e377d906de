package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// maxInflightBatches bounds the inbox batches handed to sessions and not yet
// acknowledged. At the bound the reader waits: the backlog stays in Redis.
const maxInflightBatches = 16

// InboxConfig tunes the inbox reader.
type InboxConfig struct {
	Node      string
	ReadCount int
	Block     time.Duration
	DLQMaxLen int
	// MaxLen bounds the inbox's backlog (entries not yet acknowledged and trimmed).
	// Routers never trim an inbox: that would drop pushes its node has not written.
	// A node whose backlog passes MaxLen closes its sessions instead (OnOverflow),
	// so that they resume from history, and the backlog drains. 0: no bound.
	MaxLen int
	// OnReset runs when the inbox's consumer group vanished: Redis lost its data
	// (restarted without persistence) and the node must register its presence again.
	OnReset func()
	// OnOverflow runs when the backlog passed MaxLen.
	OnOverflow func()
}

// InboxFence is how far a node's inbox went when a router took a partition's
// lease: its newest entry, and the newest one its group had read by then.
type InboxFence struct {
	Top, Delivered wire.Offset
}

// inboxProgress is what the reader has done, for Settled (read by routers).
type inboxProgress struct {
	mu      sync.Mutex
	ownDone bool        // no entry of a previous read is left unread in the pending list
	read    wire.Offset // newest entry read
	handed  wire.Offset // newest entry handed to the directory
}

// Inbox reads this node's inbox stream (group "node") and hands its pushes to the
// local directory; a batch is acknowledged once every local session wrote it or was
// cut off.
type Inbox struct {
	rdb     redis.UniversalClient
	keys    Keys
	cfg     InboxConfig
	stream  string
	sink    Sink
	log     *rateLog
	metrics *Metrics
	health  *Health

	slots chan struct{} // one per batch in flight
	acks  chan []string // completed batches, to acknowledge
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
	// ownFrom is where the next read of this consumer's own pending entries (left by
	// a previous run of this node id) starts; "" once they were all read.
	ownFrom  string
	progress inboxProgress
	// backlogAt: when the reader next compares the backlog with MaxLen;
	// overflowed: it passed MaxLen and has not come back under half of it yet.
	backlogAt  time.Time
	overflowed bool
}

// NewInbox returns the reader of node cfg.Node's inbox; Start runs it.
func NewInbox(rdb redis.UniversalClient, keys Keys, cfg InboxConfig, sink Sink, log *slog.Logger, m *Metrics, h *Health) *Inbox {
	return &Inbox{
		rdb: rdb, keys: keys, cfg: cfg, stream: keys.Inbox(cfg.Node), sink: sink,
		log: newRateLog(log, 10*time.Second), metrics: m, health: h,
		ownFrom: "0",
		slots:   make(chan struct{}, maxInflightBatches),
		acks:    make(chan []string, maxInflightBatches),
		stop:    make(chan struct{}),
	}
}

// Start runs the reader and the acknowledger.
func (in *Inbox) Start() {
	in.wg.Add(2)
	go func() { defer in.wg.Done(); in.read() }()
	go func() { defer in.wg.Done(); in.acknowledge() }()
}

// Stop ends reading, waits for the batches in flight to be written and
// acknowledged, bounded by ctx. Idempotent.
func (in *Inbox) Stop(ctx context.Context) error {
	in.once.Do(func() { close(in.stop) })
	done := make(chan struct{})
	go func() { in.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (in *Inbox) stopped() bool {
	select {
	case <-in.stop:
		return true
	default:
		return false
	}
}

func (in *Inbox) read() {
	defer close(in.acks) // after the last batch is handed over; acknowledge drains the rest
	b := newBackoff(100*time.Millisecond, 5*time.Second)
	ctx := context.Background()
	if err := createGroup(ctx, in.rdb, in.stream, groupNode); err != nil {
		in.log.warn("inbox: create group failed, retrying", err)
	}
	for !in.stopped() {
		in.checkBacklog(ctx)
		err := in.readBatch(ctx)
		if err == nil {
			b.reset()
			continue
		}
		if isNoGroup(err) {
			if err = createGroup(ctx, in.rdb, in.stream, groupNode); err == nil {
				if in.cfg.OnReset != nil {
					in.cfg.OnReset()
				}
				continue
			}
		}
		in.health.fail("inbox")
		in.log.warn("inbox: redis failing, retrying", err, "stream", in.stream)
		sleepOrStop(b.next(), in.stop)
	}
	in.waitInflight()
}

// waitInflight takes every slot back: all batches handed over were acknowledged.
func (in *Inbox) waitInflight() {
	for i := 0; i < cap(in.slots); i++ {
		in.slots <- struct{}{}
	}
}

func (in *Inbox) readBatch(ctx context.Context) error {
	start, block := ">", in.cfg.Block
	if in.ownFrom != "" {
		start, block = in.ownFrom, -1 // entries a previous run of this node read but never acked
	}
	res, err := in.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: groupNode, Consumer: in.cfg.Node, Streams: []string{in.stream, start},
		Count: int64(in.cfg.ReadCount), Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		in.health.ok("inbox")
		return nil
	}
	if err != nil {
		// The reply may be lost after Redis moved entries to our pending list; read
		// those again (sessions drop what they already wrote, by offset).
		in.setOwnFrom("0")
		in.metrics.RedisErrors.WithLabelValues("inbox_read").Inc()
		return fmt.Errorf("streams: read %s: %w", in.stream, err)
	}
	in.health.ok("inbox")
	var msgs []redis.XMessage
	if len(res) > 0 {
		msgs = res[0].Messages
	}
	if len(msgs) == 0 {
		in.ownFrom = ""
		in.noteOwnDone()
		return nil
	}
	in.noteRead(msgs[len(msgs)-1].ID)
	in.metrics.InboxRead.Add(float64(len(msgs)))
	if err := in.handOver(ctx, msgs); err != nil {
		in.setOwnFrom("0") // the batch is pending and not handed over: read it again
		return err
	}
	if in.ownFrom != "" {
		in.ownFrom = msgs[len(msgs)-1].ID
	}
	return nil
}

// handOver gives one batch to the directory. Entries that cannot be parsed (someone
// wrote garbage to the inbox) are dead-lettered and acknowledged with the batch.
func (in *Inbox) handOver(ctx context.Context, msgs []redis.XMessage) error {
	pushes := make([]*wire.Push, 0, len(msgs))
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		ids = append(ids, m.ID)
		p, err := pushFromInbox(m.Values)
		if err != nil {
			if err := in.deadLetter(ctx, m, err); err != nil {
				return err
			}
			continue
		}
		p.Encode()
		pushes = append(pushes, p)
	}
	select {
	case in.slots <- struct{}{}:
	case <-in.stop:
		return nil // not acknowledged: read again by the next run of this node
	}
	in.sink.Deliver(pushes, nil, func() { in.acks <- ids })
	in.noteHanded(ids[len(ids)-1])
	return nil
}

func (in *Inbox) setOwnFrom(from string) {
	in.ownFrom = from
	in.progress.mu.Lock()
	in.progress.ownDone = false
	in.progress.mu.Unlock()
}

func (in *Inbox) noteOwnDone() {
	in.progress.mu.Lock()
	in.progress.ownDone = true
	in.progress.mu.Unlock()
}

func (in *Inbox) noteRead(id string) {
	in.progress.mu.Lock()
	if o := wire.MustOffset(id); in.progress.read.Less(o) {
		in.progress.read = o
	}
	in.progress.mu.Unlock()
}

func (in *Inbox) noteHanded(id string) {
	in.progress.mu.Lock()
	if o := wire.MustOffset(id); in.progress.handed.Less(o) {
		in.progress.handed = o
	}
	in.progress.mu.Unlock()
}

// Settled reports whether the reader has handed to the directory every entry up
// to f.Top that it may still hand over: its own pending entries were read again,
// the entries its group had not read at f were read, and no batch it read is
// still on its way. A router that took a partition's lease delivers to this
// node's sessions directly only after that, so that a push the previous holder
// wrote to this inbox never reaches a session after a newer one (docs/ARCHITECTURE.md,
// "The delivery guarantee, as it holds", and departure 4).
func (in *Inbox) Settled(f InboxFence) bool {
	in.progress.mu.Lock()
	defer in.progress.mu.Unlock()
	p := &in.progress
	if !p.ownDone {
		return false
	}
	if f.Delivered.Less(f.Top) {
		return !p.handed.Less(f.Top)
	}
	need := f.Top
	if p.read.Less(need) {
		need = p.read // read later than f by an earlier run: acknowledged, or pending (ownDone)
	}
	return !p.handed.Less(need)
}

// backlogEvery is how often the reader compares its backlog with MaxLen.
const backlogEvery = time.Second

// checkBacklog closes the node's sessions when the inbox holds more than MaxLen
// entries: the node has fallen so far behind that its sessions are better off
// resuming from history, and with them gone the backlog drains at once. Nothing
// is trimmed unread. It fires again only once the backlog fell under half.
func (in *Inbox) checkBacklog(ctx context.Context) {
	if in.cfg.MaxLen <= 0 || time.Now().Before(in.backlogAt) {
		return
	}
	in.backlogAt = time.Now().Add(backlogEvery)
	n, err := in.rdb.XLen(ctx, in.stream).Result()
	if err != nil {
		return // the read that follows reports Redis errors
	}
	switch {
	case n > int64(in.cfg.MaxLen) && !in.overflowed:
		in.overflowed = true
		in.metrics.InboxOverflows.Inc()
		in.log.warn("inbox: backlog over streams.inbox_max_len; closing this node's sessions so that they resume from history",
			fmt.Errorf("%d entries", n), "stream", in.stream)
		if in.cfg.OnOverflow != nil {
			in.cfg.OnOverflow()
		}
	case n < int64(in.cfg.MaxLen/2):
		in.overflowed = false
	}
}

func (in *Inbox) deadLetter(ctx context.Context, m redis.XMessage, reason error) error {
	d := deadLetter{id: m.ID, fields: m.Values, reason: reason.Error()}
	if err := in.rdb.XAdd(ctx, dlqArgs(in.keys, in.cfg.DLQMaxLen, in.stream, d)).Err(); err != nil {
		in.metrics.RedisErrors.WithLabelValues("dead_letter").Inc()
		return fmt.Errorf("streams: dead-letter inbox entry: %w", err)
	}
	logDeadLetter(in.log.log, in.stream, d)
	in.metrics.InboxBad.Inc()
	in.metrics.DeadLetters.WithLabelValues("bad_inbox_entry").Inc()
	return nil
}

// acknowledge acks completed batches and trims the inbox behind them. It runs until
// read closed acks.
func (in *Inbox) acknowledge() {
	var trimAt time.Time
	for ids := range in.acks {
		in.ackBatch(ids)
		<-in.slots
		if time.Now().After(trimAt) {
			trimAt = time.Now().Add(time.Second)
			in.trim()
		}
	}
}

// ackBatch acknowledges one batch, retrying while Redis is away; once the node is
// stopping it tries a few more times and then leaves the entries pending (the next
// run of this node id reads them again).
func (in *Inbox) ackBatch(ids []string) {
	b := newBackoff(50*time.Millisecond, 2*time.Second)
	for afterStop := 0; afterStop < 3; {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := in.rdb.XAck(ctx, in.stream, groupNode, ids...).Err()
		cancel()
		if err == nil {
			return
		}
		in.metrics.RedisErrors.WithLabelValues("inbox_ack").Inc()
		if in.stopped() {
			afterStop++
		}
		time.Sleep(b.next())
	}
}

// trim drops acknowledged entries.
func (in *Inbox) trim() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = trimBehind(ctx, in.rdb, in.stream)
}
