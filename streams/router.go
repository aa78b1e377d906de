package streams

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
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
			ttl: newTTLRefresher(r.cfg.HistoryTTL), wait: newReplicaWait(r.rdb, r.cfg.WaitReplicas, r.cfg.WaitTimeout), maxLenArg: int64(r.cfg.HistorySize), ttlArg: r.cfg.HistoryTTL.Milliseconds(),
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
		// With the batches in flight behind it (a retried hand-off whose WAIT fell
		// short leaves the next batch appended): their history entries are older
		// than the held batch's new ones, and handed off after those they would
		// reach sessions below an offset already seen, acknowledged, and be
		// skipped by a client that resumed in between.
		msgs := l.held
		if l.appended != nil {
			msgs = slices.Concat(msgs, l.appended.msgs)
		}
		msgs = slices.Concat(msgs, l.fresh)
		l.held, l.appended, l.fresh = nil, nil, nil
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
