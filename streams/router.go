package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/gateway/wire"
)

// Sink takes pushes for sessions on this node. accepted, when not nil, runs once the
// pushes are queued on every local session; written once every local session wrote
// them or was cut off.
type Sink interface {
	Deliver(pushes []*wire.Push, accepted, written func())
}

// maxLocalBatches bounds the batches a router has handed to its own directory that
// the directory has not queued yet; at the bound the router waits.
const maxLocalBatches = 64

// RouterConfig tunes the router.
type RouterConfig struct {
	Node          string
	ReadCount     int
	Block         time.Duration
	ClaimIdle     time.Duration
	MaxDeliveries int
	LeaseTTL      time.Duration
	DLQMaxLen     int
	HistorySize   int
	HistoryTTL    time.Duration
	MaxPayload    int
	// History sets other histories for some topics (history.topics); nil: none.
	History *HistoryPolicy
	// WaitReplicas > 0: every round trip that writes for ingress entries ends
	// with WAIT WaitReplicas WaitTimeout, and the entries are acknowledged only
	// once every WAIT that covered their writes confirmed that many replicas.
	WaitReplicas int
	WaitTimeout  time.Duration
}

// Router reads the ingress partitions through the consumer group "router", appends
// each push to its recipient's history, hands it to the nodes hosting the recipient
// (its own directory directly, other nodes through their inboxes), and only then
// acknowledges it. Each partition is read by the one router holding its lease, which
// keeps publish order per recipient.
type Router struct {
	rdb     redis.UniversalClient
	keys    Keys
	cfg     RouterConfig
	sink    Sink
	own     *Inbox // this node's inbox reader, for the fence after a lease take; nil: no fence
	undeliv *Undelivered
	log     *rateLog
	metrics *Metrics
	health  *Health

	local chan struct{} // one per local batch not yet accepted
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

// NewRouter returns a router for every ingress partition; Start runs it. own is
// this node's inbox reader (see partitionLoop.readFence); u, when enabled, is told
// of every user push so that unacked ones are reported.
func NewRouter(rdb redis.UniversalClient, keys Keys, cfg RouterConfig, sink Sink, own *Inbox, u *Undelivered, log *slog.Logger, m *Metrics, h *Health) *Router {
	return &Router{
		rdb: rdb, keys: keys, cfg: cfg, sink: sink, own: own, undeliv: u,
		log: newRateLog(log, 10*time.Second), metrics: m, health: h,
		local: make(chan struct{}, maxLocalBatches),
		stop:  make(chan struct{}),
	}
}

// Start runs one loop per partition.
func (r *Router) Start() {
	for p := 0; p < r.keys.Partitions(); p++ {
		r.wg.Add(1)
		pl := &partitionLoop{
			Router: r, p: p, stream: r.keys.Ingress(p), lease: r.keys.Lease(p),
			ttl: newTTLRefresher(r.cfg.HistoryTTL), wait: replicaWait{n: r.cfg.WaitReplicas, timeout: r.cfg.WaitTimeout}, maxLenArg: int64(r.cfg.HistorySize), ttlArg: r.cfg.HistoryTTL.Milliseconds(),
		}
		go func() {
			defer r.wg.Done()
			pl.run()
		}()
	}
}

// Stop ends the loops after their current batch, releasing the leases. Idempotent;
// bounded by ctx.
func (r *Router) Stop(ctx context.Context) error {
	r.once.Do(func() { close(r.stop) })
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Router) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

type partitionLoop struct {
	*Router
	p         int
	stream    string
	lease     string
	holding   bool
	renewAt   time.Time
	reclaimAt time.Time
	trimAt    time.Time
	retryOwn  bool // re-read this consumer's own pending entries before new ones
	// fence, after taking the lease: how far this node's inbox went then. Nothing
	// is delivered to local sessions directly until the inbox has handed that over.
	fence *InboxFence
	// Batches between round trips of cycle: read, history not appended yet; and
	// history appended, not handed off yet. Both stay pending in the group until
	// acknowledged, so dropping them (on a failure or a lost lease) loses nothing.
	fresh    []redis.XMessage
	appended *staged
	// stuck: a hand-off with writes that failed, retried before anything newer.
	stuck *handOff
	// held: a batch whose history appends Redis refused for now (OOM, LOADING),
	// routed again as read, before anything newer.
	held []redis.XMessage
	// toAck: entries whose hand-off was confirmed, acknowledged in the next round
	// trip; acking: those in the round trip on its way.
	toAck, acking []string
	args          argArena
	ttl           *ttlRefresher
	wait          replicaWait
	// Boxed once: the commands' constant arguments.
	maxLenArg, ttlArg any
}

// ingressTrimEvery is how often the lease holder trims its partition behind the
// acknowledgements (publishers need not XADD with MAXLEN).
const ingressTrimEvery = 5 * time.Second

func (l *partitionLoop) run() {
	defer l.release()
	defer l.flush(context.Background()) // the batches in flight, before the lease goes
	b := newBackoff(100*time.Millisecond, 5*time.Second)
	for !l.stopped() {
		err := l.step(context.Background())
		if err == nil {
			b.reset()
			continue
		}
		if isNoGroup(err) {
			l.ttl.clear() // Redis lost its data: every history stream is new
			err = createGroup(context.Background(), l.rdb, l.stream, groupRouter)
			if err == nil {
				continue
			}
		}
		l.health.fail("router")
		l.log.warn("router: redis failing, retrying", err, "stream", l.stream)
		// Never longer than the lease's renewal period: a router that sleeps past its
		// lease loses it while Redis works (a short WAIT, an OOM), takes it again and
		// re-reads its own pending entries, and every re-read counts as a delivery
		// towards streams.max_deliveries: good entries reached the dead letters.
		sleepOrStop(min(b.next(), l.cfg.LeaseTTL/3), l.stop)
	}
}

// step does one unit of work: keep the lease, reclaim, or route one batch.
func (l *partitionLoop) step(ctx context.Context) error {
	if err := l.keepLease(ctx); err != nil || !l.holding {
		l.drop() // the next holder reclaims them
		if err == nil {
			l.health.ok("router")
			sleepOrStop(l.cfg.LeaseTTL/3, l.stop)
		}
		return err
	}
	if l.fence != nil {
		if !l.own.Settled(*l.fence) {
			l.health.ok("router")
			sleepOrStop(fenceWait, l.stop)
			return nil
		}
		l.fence = nil
	}
	if time.Now().After(l.trimAt) {
		l.trimAt = time.Now().Add(ingressTrimEvery)
		if err := trimBehind(ctx, l.rdb, l.stream); err != nil {
			l.metrics.RedisErrors.WithLabelValues("trim").Inc()
		}
	}
	if l.stuck != nil {
		return l.retryStuck(ctx)
	}
	if l.held != nil {
		msgs := l.held
		l.held = nil
		return l.route(ctx, msgs)
	}
	if time.Now().After(l.reclaimAt) {
		l.reclaimAt = time.Now().Add(l.cfg.ClaimIdle / 2)
		if err := l.flush(ctx); err != nil {
			return err
		}
		if err := l.reclaim(ctx); err != nil {
			return err
		}
	}
	return l.advance(ctx)
}

// advance routes: this consumer's own pending entries after a failure, else the
// steady state; with nothing in flight it owes its acknowledgements first and then
// waits for new entries.
func (l *partitionLoop) advance(ctx context.Context) error {
	if l.retryOwn {
		if err := l.flushAcks(ctx); err != nil || !l.holding {
			return err
		}
		l.dropInFlight()
		return l.readBatch(ctx)
	}
	if l.fresh == nil && l.appended == nil {
		if len(l.toAck) > 0 {
			return l.flushAcks(ctx)
		}
		return l.readBatch(ctx) // blocks while there is nothing to route
	}
	return l.cycle(ctx, l.appended == nil || l.appended.failed == 0)
}

// fenceWait is how often a router that just took a lease looks whether its
// node's inbox has caught up.
const fenceWait = 5 * time.Millisecond

// cycle is one round trip of the steady state. In one pipeline it hands off the
// batch whose history was appended in the previous round trip, appends the
// history of the batch read in the previous round trip, and reads the next batch
// (without blocking): a batch costs one round trip instead of three (DESIGN.md
// "Cost per push" has the same commands one batch at a time), and on this
// 2-core machine each round trip also waits for Redis and the router to get a core.
// Per recipient the order holds: histories are appended, and pushes handed off,
// batch after batch. read is false when the batch being handed off had failed
// entries: those are retried before anything newer.
func (l *partitionLoop) cycle(ctx context.Context, read bool) error {
	l.args.reset() // the previous pipeline was sent
	pipe := l.rdb.Pipeline()
	ack := l.queueAck(ctx, pipe)
	var h *handOff
	if l.appended != nil {
		h = l.queueHandOff(ctx, pipe, l.appended)
		l.appended = nil
	}
	var st *staged
	if l.fresh != nil {
		st = l.queueHistory(ctx, pipe, l.fresh)
		l.fresh = nil
	}
	var next *redis.XStreamSliceCmd
	if read {
		next = pipe.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: groupRouter, Consumer: l.cfg.Node, Streams: []string{l.stream, ">"},
			Count: int64(l.cfg.ReadCount), Block: -1,
		})
	}
	wait := l.wait.queue(ctx, pipe) // last: after every write of this round trip
	_, _ = pipe.Exec(ctx)           // replies are checked stage by stage
	if err := l.wait.done(wait); err != nil {
		return l.unconfirmed(h, st, next, ack, err)
	}
	var errs []error
	if h != nil {
		errs = append(errs, l.handOffDone(ctx, h))
	}
	if st != nil {
		if err := l.historyDone(ctx, st); err != nil {
			errs = append(errs, err)
		} else {
			l.appended = st
		}
	}
	if next != nil {
		msgs, err := l.readDone(next)
		errs = append(errs, err)
		l.fresh = msgs
	}
	if l.retryOwn || (l.appended != nil && l.appended.failed > 0) {
		l.fresh = nil // pending: re-read after the failed entries
	}
	if l.retryOwn {
		l.dropInFlight()
	}
	if ack != nil {
		errs = append(errs, l.leaseCheck(l.ackDone(ack)))
	}
	err := errors.Join(errs...)
	if err == nil {
		l.health.ok("router")
	}
	return err
}

// unconfirmed handles a round trip whose WAIT did not confirm its writes on
// enough replicas: neither the hand-off nor the history append of this round trip
// may lead to an acknowledgement, since a failover could lose them. Every batch in
// flight is routed again as read (held), history append included, before anything
// newer, and without a re-read: a re-read would count as a delivery, and a replica
// away for a while would send the entries to the dead letters.
func (l *partitionLoop) unconfirmed(h *handOff, st *staged, next *redis.XStreamSliceCmd, ack *redis.Cmd, werr error) error {
	l.waitShort(werr)
	var held []redis.XMessage
	if h != nil {
		held = append(held, h.msgs...)
	}
	if st != nil {
		held = append(held, st.msgs...)
	}
	errs := []error{werr}
	if next != nil {
		msgs, err := l.readDone(next)
		held = append(held, msgs...)
		errs = append(errs, err)
	}
	if len(held) > 0 {
		l.held = held
	}
	l.appended, l.fresh = nil, nil
	if ack != nil {
		errs = append(errs, l.leaseCheck(l.ackDone(ack)))
	}
	return errors.Join(errs...)
}

// waitShort counts a WAIT that confirmed too few replicas (or failed).
func (l *partitionLoop) waitShort(err error) {
	if errors.Is(err, ErrNotReplicated) {
		l.metrics.WaitShort.WithLabelValues("router").Inc()
	} else {
		l.metrics.RedisErrors.WithLabelValues("wait").Inc()
	}
}

// flush finishes the batches in flight and their acknowledgements without reading
// more; what it cannot finish stays pending for the retry or the next holder.
func (l *partitionLoop) flush(ctx context.Context) error {
	if !l.holding {
		l.drop()
		return nil
	}
	for i := 0; i < 2 && l.holding && !l.retryOwn && l.stuck == nil && (l.fresh != nil || l.appended != nil); i++ {
		if err := l.cycle(ctx, false); err != nil {
			return err
		}
	}
	if l.holding && l.stuck == nil {
		if err := l.flushAcks(ctx); err != nil {
			return err
		}
	}
	l.dropInFlight()
	return nil
}

// dropInFlight forgets the batches not handed off yet: they are pending in the
// group, read again by the retry of this consumer's own entries or reclaimed by
// the next lease holder.
func (l *partitionLoop) dropInFlight() {
	l.fresh, l.appended = nil, nil
}

// drop gives up everything of this tenure: the batches in flight, a hand-off being
// retried and the acknowledgements owed. Their entries stay pending and are
// routed again, with a newer offset (clients drop the duplicate by id).
func (l *partitionLoop) drop() {
	l.dropInFlight()
	l.stuck, l.held, l.toAck = nil, nil, nil
}

// readBatch routes the next batch: this consumer's own pending entries first after
// a failure or a takeover (in order, so a retry does not reorder a recipient's
// pushes), new entries otherwise.
func (l *partitionLoop) readBatch(ctx context.Context) error {
	start, block := ">", min(l.cfg.Block, l.cfg.LeaseTTL/3) // renewed in time between reads
	if l.retryOwn {
		start, block = "0", -1
	}
	res, err := l.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: groupRouter, Consumer: l.cfg.Node, Streams: []string{l.stream, start},
		Count: int64(l.cfg.ReadCount), Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		l.health.ok("router")
		return nil
	}
	if err != nil {
		// The reply may be lost after Redis moved entries to our pending list: the
		// next read takes our own pending entries first.
		l.retryOwn = true
		l.metrics.RedisErrors.WithLabelValues("router_read").Inc()
		return fmt.Errorf("streams: read %s: %w", l.stream, err)
	}
	l.health.ok("router")
	var msgs []redis.XMessage
	if len(res) > 0 {
		msgs = res[0].Messages
	}
	if l.retryOwn {
		if len(msgs) == 0 {
			l.retryOwn = false
			return nil
		}
		return l.retry(ctx, msgs)
	}
	if len(msgs) > 0 {
		l.fresh = msgs
	}
	return nil
}

// readDone takes the reply of a read sent in a cycle.
func (l *partitionLoop) readDone(c *redis.XStreamSliceCmd) ([]redis.XMessage, error) {
	res, err := c.Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		l.retryOwn = true // the entries may be pending for us already
		l.metrics.RedisErrors.WithLabelValues("router_read").Inc()
		return nil, fmt.Errorf("streams: read %s: %w", l.stream, err)
	}
	if len(res) == 0 || len(res[0].Messages) == 0 {
		return nil, nil
	}
	return res[0].Messages, nil
}

// reclaim takes over entries another consumer (a router that died) left pending
// longer than streams.claim_idle.
func (l *partitionLoop) reclaim(ctx context.Context) error {
	cursor := "0-0"
	for i := 0; i < 100 && !l.stopped(); i++ {
		msgs, next, err := l.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: l.stream, Group: groupRouter, Consumer: l.cfg.Node,
			MinIdle: l.cfg.ClaimIdle, Start: cursor, Count: int64(l.cfg.ReadCount),
		}).Result()
		if err != nil {
			l.metrics.RedisErrors.WithLabelValues("reclaim").Inc()
			return fmt.Errorf("streams: reclaim %s: %w", l.stream, err)
		}
		if len(msgs) > 0 {
			l.metrics.Reclaimed.Add(float64(len(msgs)))
			if err := l.retry(ctx, msgs); err != nil {
				return err
			}
		}
		if next == "0-0" || next == "" {
			return nil
		}
		cursor = next
		if err := l.keepLease(ctx); err != nil || !l.holding {
			return err // lost it meanwhile: the new holder reclaims the rest
		}
	}
	return nil
}

// retry routes entries delivered before, moving those delivered more than
// streams.max_deliveries times to the dead-letter stream instead.
func (l *partitionLoop) retry(ctx context.Context, msgs []redis.XMessage) error {
	counts, err := l.deliveryCounts(ctx, msgs)
	if err != nil {
		return err
	}
	keep := msgs[:0:0]
	var dead []deadLetter
	for _, m := range msgs {
		if counts[m.ID] > int64(l.cfg.MaxDeliveries) {
			dead = append(dead, deadLetter{id: m.ID, fields: m.Values, reason: "max deliveries exceeded", class: "max_deliveries"})
			continue
		}
		keep = append(keep, m)
	}
	if len(dead) > 0 {
		if err := l.deadLetter(ctx, dead); err != nil {
			return err
		}
	}
	return l.route(ctx, keep)
}

func (l *partitionLoop) deliveryCounts(ctx context.Context, msgs []redis.XMessage) (map[string]int64, error) {
	pend, err := l.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: l.stream, Group: groupRouter, Start: msgs[0].ID, End: msgs[len(msgs)-1].ID,
		Count: int64(len(msgs)) + 100, Consumer: l.cfg.Node,
	}).Result()
	if err != nil {
		l.metrics.RedisErrors.WithLabelValues("pending").Inc()
		return nil, fmt.Errorf("streams: pending of %s: %w", l.stream, err)
	}
	counts := make(map[string]int64, len(pend))
	for _, p := range pend {
		counts[p.ID] = p.RetryCount
	}
	return counts, nil
}

// route does the two pipelines of DESIGN.md "Cost per push" for one batch, one
// after the other: the path of retries and reclaims. New entries go through cycle,
// which sends the same commands pipelined across batches.
func (l *partitionLoop) route(ctx context.Context, msgs []redis.XMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	l.args.reset() // the previous pipeline was sent
	pipe := l.rdb.Pipeline()
	st := l.queueHistory(ctx, pipe, msgs)
	wait := l.wait.queue(ctx, pipe)
	_, _ = pipe.Exec(ctx) // replies are checked one by one
	if err := l.wait.done(wait); err != nil {
		l.waitShort(err)
		l.held = msgs // routed again, as in unconfirmed
		return err
	}
	if err := l.historyDone(ctx, st); err != nil {
		return err
	}
	pipe = l.rdb.Pipeline()
	h := l.queueHandOff(ctx, pipe, st)
	// Its own WAIT: this pipeline may go on another pooled connection than the
	// history append's.
	wait = l.wait.queue(ctx, pipe)
	_, _ = pipe.Exec(ctx)
	if err := l.wait.done(wait); err != nil {
		l.waitShort(err)
		l.held = msgs
		return err
	}
	return l.handOffDone(ctx, h)
}
