package streams

import (
	"context"
	"encoding/json"
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
	InboxMaxLen   int
	DLQMaxLen     int
	HistorySize   int
	HistoryTTL    time.Duration
	MaxPayload    int
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
	undeliv *Undelivered
	log     *rateLog
	metrics *Metrics
	health  *Health

	local chan struct{} // one per local batch not yet accepted
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

// NewRouter returns a router for every ingress partition; Start runs it.
// u, when enabled, is told of every user push so that unacked ones are reported.
func NewRouter(rdb redis.UniversalClient, keys Keys, cfg RouterConfig, sink Sink, u *Undelivered, log *slog.Logger, m *Metrics, h *Health) *Router {
	return &Router{
		rdb: rdb, keys: keys, cfg: cfg, sink: sink, undeliv: u,
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
			ttl: newTTLRefresher(r.cfg.HistoryTTL), maxLenArg: int64(r.cfg.HistorySize), ttlArg: r.cfg.HistoryTTL.Milliseconds(),
			inboxMaxLenArg: int64(r.cfg.InboxMaxLen),
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
	// Batches between round trips of cycle: read, history not appended yet; and
	// history appended, not handed off yet. Both stay pending in the group until
	// handed off, so dropping them (on a failure or a lost lease) loses nothing.
	fresh    []redis.XMessage
	appended *staged
	args     argArena
	ttl      *ttlRefresher
	// Boxed once: the commands' constant arguments.
	maxLenArg, ttlArg, inboxMaxLenArg any
}

// ingressTrimEvery is how often the lease holder trims its partition behind the
// acknowledgements (publishers need not XADD with MAXLEN).
const ingressTrimEvery = 5 * time.Second

// takeScript takes a free lease, or one this node id still holds from a previous
// run (a restart with the same node.id need not wait for it to expire).
var takeScript = redis.NewScript(`
local h = redis.call('get', KEYS[1])
if h == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end
if not h then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`)

var renewScript = redis.NewScript(`if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`)
var releaseScript = redis.NewScript(`if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`)

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
		sleepOrStop(b.next(), l.stop)
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
	if time.Now().After(l.trimAt) {
		l.trimAt = time.Now().Add(ingressTrimEvery)
		if err := trimBehind(ctx, l.rdb, l.stream); err != nil {
			l.metrics.RedisErrors.WithLabelValues("trim").Inc()
		}
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
	if l.retryOwn {
		l.drop()
		return l.readBatch(ctx)
	}
	if l.fresh == nil && l.appended == nil {
		return l.readBatch(ctx) // blocks while there is nothing to route
	}
	return l.cycle(ctx, l.appended == nil || l.appended.failed == 0)
}

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
	var h *handOffCmds
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
	cmds, _ := pipe.Exec(ctx) // replies are checked stage by stage
	var errs []error
	if h != nil {
		errs = append(errs, l.handOffDone(h, cmds))
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
		l.drop()
	}
	err := errors.Join(errs...)
	if err == nil {
		l.health.ok("router")
	}
	return err
}

// flush finishes the batches in flight without reading more; when it fails they
// stay pending for the retry.
func (l *partitionLoop) flush(ctx context.Context) error {
	if !l.holding {
		l.drop()
		return nil
	}
	for i := 0; i < 2 && !l.retryOwn && (l.fresh != nil || l.appended != nil); i++ {
		if err := l.cycle(ctx, false); err != nil {
			return err
		}
	}
	l.drop()
	return nil
}

// drop forgets the batches in flight: they are pending in the group, read again by
// the retry of this consumer's own entries or reclaimed by the next lease holder.
func (l *partitionLoop) drop() {
	l.fresh, l.appended = nil, nil
}

func (l *partitionLoop) keepLease(ctx context.Context) error {
	ttl := l.cfg.LeaseTTL
	if l.holding && time.Now().Before(l.renewAt) {
		return nil
	}
	if l.holding {
		n, err := renewScript.Run(ctx, l.rdb, []string{l.lease}, l.cfg.Node, ttl.Milliseconds()).Int()
		if err != nil {
			l.metrics.RedisErrors.WithLabelValues("lease").Inc()
			return fmt.Errorf("streams: renew lease %s: %w", l.lease, err)
		}
		l.holding = n == 1
		l.renewAt = time.Now().Add(ttl / 3)
		return nil
	}
	n, err := takeScript.Run(ctx, l.rdb, []string{l.lease}, l.cfg.Node, ttl.Milliseconds()).Int()
	if err != nil {
		l.metrics.RedisErrors.WithLabelValues("lease").Inc()
		return fmt.Errorf("streams: take lease %s: %w", l.lease, err)
	}
	if n == 1 {
		if err := createGroup(ctx, l.rdb, l.stream, groupRouter); err != nil {
			return err
		}
		l.holding, l.retryOwn = true, true
		l.renewAt = time.Now().Add(ttl / 3)
		l.reclaimAt = time.Time{}
	}
	return nil
}

func (l *partitionLoop) release() {
	if !l.holding {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = releaseScript.Run(ctx, l.rdb, []string{l.lease}, l.cfg.Node).Err()
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

type deadLetter struct {
	id     string
	fields map[string]any
	reason string
	class  string // metric label: a small fixed set
	add    *redis.StringCmd
}

func (l *partitionLoop) deadLetter(ctx context.Context, dead []deadLetter) error {
	_, err := l.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, d := range dead {
			pipe.XAdd(ctx, dlqArgs(l.keys, l.cfg.DLQMaxLen, l.stream, d))
		}
		return nil
	})
	if err != nil {
		l.metrics.RedisErrors.WithLabelValues("dead_letter").Inc()
		return fmt.Errorf("streams: dead-letter to %s: %w", l.keys.DeadLetters(), err)
	}
	ids := make([]string, len(dead))
	for i, d := range dead {
		ids[i] = d.id
		l.metrics.DeadLetters.WithLabelValues(d.class).Inc()
	}
	if err := l.rdb.XAck(ctx, l.stream, groupRouter, ids...).Err(); err != nil {
		l.metrics.RedisErrors.WithLabelValues("ack").Inc()
		return fmt.Errorf("streams: ack %s: %w", l.stream, err)
	}
	return nil
}

func dlqArgs(keys Keys, maxLen int, stream string, d deadLetter) *redis.XAddArgs {
	entry, _ := json.Marshal(d.fields)
	return &redis.XAddArgs{
		Stream: keys.DeadLetters(), MaxLen: int64(maxLen), Approx: true,
		Values: []any{"reason", d.reason, "entry", string(entry), "stream", stream, "id", d.id},
	}
}

// routed is one ingress entry on its way: its push and the pipeline replies.
type routed struct {
	id    string
	key   string // the history stream
	push  *wire.Push
	add   *redis.Cmd
	nodes *redis.StringSliceCmd
}

func (r *routed) failed() bool { return r.add.Err() != nil || r.nodes.Err() != nil }

// staged is a batch whose history append was sent: its entries and dead letters
// with their replies.
type staged struct {
	batch  []routed
	dead   []deadLetter
	failed int // entries whose history append or presence read failed
}

// handOffCmds is a batch's hand-off on its way: the pipeline's replies are checked
// once it ran.
type handOffCmds struct {
	routed   int // entries acknowledged for routing (dead letters aside)
	failed   int
	dead     []deadLetter
	from, to int // its commands in the pipeline
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
	_, _ = pipe.Exec(ctx) // replies are checked one by one
	if err := l.historyDone(ctx, st); err != nil {
		return err
	}
	pipe = l.rdb.Pipeline()
	h := l.queueHandOff(ctx, pipe, st)
	cmds, _ := pipe.Exec(ctx)
	return l.handOffDone(h, cmds)
}

func (l *partitionLoop) parse(msgs []redis.XMessage) ([]routed, []deadLetter) {
	batch := make([]routed, 0, len(msgs))
	var dead []deadLetter
	for _, m := range msgs {
		p, err := ParseIngress(m.ID, m.Values, l.cfg.MaxPayload)
		if err != nil {
			class := "invalid"
			if rej, ok := err.(Rejection); ok {
				class = rej.Class()
			}
			dead = append(dead, deadLetter{id: m.ID, fields: m.Values, reason: err.Error(), class: class})
			continue
		}
		batch = append(batch, routed{id: m.ID, push: p})
	}
	return batch, dead
}

// queueHistory queues pipeline 1 of msgs: history append, its TTL when due, and the
// presence read per push (one hash slot per recipient), plus the dead letters.
func (l *partitionLoop) queueHistory(ctx context.Context, pipe redis.Pipeliner, msgs []redis.XMessage) *staged {
	batch, dead := l.parse(msgs)
	now := time.Now()
	for i := range batch {
		r := &batch[i]
		r.key = l.keys.History(r.push.Recipient)
		key := any(r.key)
		r.add = pipe.Do(ctx, l.historyArgs(key, r.push)...)
		if l.ttl.due(r.key, now) {
			a := l.args.take(3)
			a[0], a[1], a[2] = "pexpire", key, l.ttlArg
			pipe.Do(ctx, a...)
		}
		r.nodes = pipe.SMembers(ctx, l.keys.Presence(r.push.Recipient))
	}
	for i := range dead {
		dead[i].add = pipe.XAdd(ctx, dlqArgs(l.keys, l.cfg.DLQMaxLen, l.stream, dead[i]))
	}
	return &staged{batch: batch, dead: dead}
}

// historyArgs is the XADD of p to its history stream key, trimmed exactly to
// history.size.
func (l *partitionLoop) historyArgs(key any, p *wire.Push) []any {
	a := l.args.take(5 + historyFieldCount(p))
	a[0], a[1], a[2], a[3], a[4] = "xadd", key, "maxlen", l.maxLenArg, "*"
	historyFields(a[5:], p)
	return a
}

// inboxArgs is the XADD of p to a node inbox, trimmed approximately to
// streams.inbox_max_len.
func (l *partitionLoop) inboxArgs(inbox string, p *wire.Push) []any {
	a := l.args.take(6 + inboxFieldCount(p))
	a[0], a[1], a[2], a[3], a[4], a[5] = "xadd", inbox, "maxlen", "~", l.inboxMaxLenArg, "*"
	inboxFields(a[6:], p)
	return a
}

// historyDone checks pipeline 1's replies. When none of them worked (Redis away)
// the batch is left to a retry; when some did, the batch is handed off without the
// failed entries and the loop retries its own pending entries after that.
func (l *partitionLoop) historyDone(ctx context.Context, st *staged) error {
	for i := range st.batch {
		if r := &st.batch[i]; r.failed() {
			st.failed++
			l.ttl.forget(r.key)
		}
	}
	if st.failed > 0 && st.failed == len(st.batch) {
		l.metrics.RedisErrors.WithLabelValues("history").Inc()
		l.retryOwn = true
		l.ackDeadLetters(ctx, st.dead) // else a retry would dead-letter them again
		err := st.batch[0].add.Err()
		if err == nil {
			err = st.batch[0].nodes.Err()
		}
		return fmt.Errorf("streams: append history: %w", err)
	}
	return nil
}

// ackDeadLetters acknowledges the dead letters that were stored; best effort, a
// failure only means they may be stored twice.
func (l *partitionLoop) ackDeadLetters(ctx context.Context, dead []deadLetter) {
	var ids []string
	for _, d := range dead {
		if d.add != nil && d.add.Err() == nil {
			ids = append(ids, d.id)
			l.metrics.DeadLetters.WithLabelValues(d.class).Inc()
		}
	}
	if len(ids) > 0 {
		_ = l.rdb.XAck(ctx, l.stream, groupRouter, ids...).Err()
	}
}

// queueHandOff delivers st's local pushes and queues pipeline 2: the other nodes'
// inboxes and the acknowledgement. Entries whose history append failed stay
// pending for a retry.
func (l *partitionLoop) queueHandOff(ctx context.Context, pipe redis.Pipeliner, st *staged) *handOffCmds {
	var local []*wire.Push
	ack := make([]string, 0, len(st.batch)+len(st.dead))
	h := &handOffCmds{failed: st.failed, from: pipe.Len()}
	now := time.Now()
	nowMs := now.UnixMilli()
	for i := range st.batch {
		r := &st.batch[i]
		if r.failed() {
			continue
		}
		l.metrics.RouteLag.Observe(float64(nowMs-r.push.TS) / 1000)
		id, _ := r.add.Text()
		r.push.Offset = wire.MustOffset(id)
		r.push.Encode()
		l.undeliv.await(ctx, pipe, r.push, now)
		for _, n := range r.nodes.Val() {
			if n == l.cfg.Node {
				local = append(local, r.push)
				continue
			}
			pipe.Do(ctx, l.inboxArgs(l.keys.Inbox(n), r.push)...)
		}
		ack = append(ack, r.id)
	}
	h.routed = len(ack)
	for _, d := range st.dead {
		if d.add.Err() != nil {
			h.failed++
			continue
		}
		ack = append(ack, d.id)
		h.dead = append(h.dead, d)
	}
	if len(local) > 0 {
		l.local <- struct{}{}
		l.sink.Deliver(local, func() { <-l.local }, nil)
	}
	if len(ack) > 0 {
		pipe.XAck(ctx, l.stream, groupRouter, ack...)
	}
	h.to = pipe.Len()
	return h
}

// handOffDone checks the replies of a hand-off whose pipeline ran (cmds are the
// whole pipeline's) and counts it.
func (l *partitionLoop) handOffDone(h *handOffCmds, cmds []redis.Cmder) error {
	if len(cmds) < h.to {
		l.retryOwn = true
		return fmt.Errorf("streams: hand off batch of %s: pipeline not sent", l.stream)
	}
	for _, c := range cmds[h.from:h.to] {
		if err := c.Err(); err != nil {
			l.metrics.RedisErrors.WithLabelValues("handoff").Inc()
			l.retryOwn = true
			return fmt.Errorf("streams: hand off batch of %s: %w", l.stream, err)
		}
	}
	for _, d := range h.dead {
		l.metrics.DeadLetters.WithLabelValues(d.class).Inc()
	}
	l.metrics.PushesIn.Add(float64(h.routed))
	if h.failed > 0 {
		l.retryOwn = true
		l.metrics.RedisErrors.WithLabelValues("history").Add(float64(h.failed))
	}
	return nil
}

// Health tracks whether the Redis loops are working, for /readyz.
type Health struct {
	mu     sync.Mutex
	status map[string]bool
}

// NewHealth returns a tracker with nothing reported yet (not ready).
func NewHealth() *Health { return &Health{status: make(map[string]bool)} }

func (h *Health) ok(loop string)   { h.set(loop, true) }
func (h *Health) fail(loop string) { h.set(loop, false) }

func (h *Health) set(loop string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.status[loop] = ok
}

// Ready is nil when every loop's last Redis round trip worked.
func (h *Health) Ready() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.status) == 0 {
		return errors.New("consumers not started")
	}
	for loop, ok := range h.status {
		if !ok {
			return fmt.Errorf("%s cannot reach redis", loop)
		}
	}
	return nil
}
