package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// ControlConfig tunes the control stream.
type ControlConfig struct {
	MaxLen        int64         // approximate MAXLEN of the control stream
	TokenLifetime time.Duration // the longest a token lives: how long revocations are kept
	Block         time.Duration // XREAD BLOCK
	DLQMaxLen     int
}

// Control appends operators' disconnects and revocations to the control stream
// and reads every entry of it, on every node: each node needs each entry, so it
// reads with XREAD from the last id it saw (no consumer group). A bad entry is
// dead-lettered once, whichever node stores it. Revocations are kept in the
// Revoked sorted set until the tokens they name have expired, and in memory
// (Revocations) for the check at connect.
//
// It runs one goroutine, the reader, which Stop ends.
type Control struct {
	rdb     redis.UniversalClient
	keys    Keys
	cfg     ControlConfig
	revoked *Revocations
	apply   func(ControlOp) // closes the matching local sessions
	log     *rateLog
	dlog    *slog.Logger
	metrics *Metrics

	wait    replicaWait // redis.wait_replicas, for Append
	last    string      // the id of the last entry read
	pruneAt time.Time   // next prune of expired revocations and trim of the stream
	failed  bool        // a round trip failed since the revocations were loaded
	stop    context.CancelFunc
	ctx     context.Context
	done    chan struct{}
	once    sync.Once
	started atomic.Bool
}

// NewControl returns the control stream's writer and reader; apply runs (on the
// reader's goroutine) for every valid entry.
func NewControl(rdb redis.UniversalClient, keys Keys, cfg ControlConfig, revoked *Revocations, apply func(ControlOp), log *slog.Logger, m *Metrics) *Control {
	ctx, stop := context.WithCancel(context.Background())
	return &Control{rdb: rdb, keys: keys, cfg: cfg, revoked: revoked, apply: apply,
		log: newRateLog(log, 10*time.Second), dlog: log, metrics: m, ctx: ctx, stop: stop, done: make(chan struct{})}
}

// WaitReplicas makes Append answer only once n replicas confirmed its writes
// (WAIT, at most timeout), as a publish does: a revocation lost in a failover
// would let the token back in.
func (c *Control) WaitReplicas(n int, timeout time.Duration) {
	c.wait = newReplicaWait(c.rdb, n, timeout)
}

// Append validates o and appends it to the control stream; a revocation is
// stored first (in the same pipeline, before the entry), so that a node starting
// later refuses its tokens even once the stream has been trimmed. A Rejection
// says what is wrong with o; ErrNotReplicated that too few replicas confirmed.
func (c *Control) Append(ctx context.Context, o ControlOp) (string, error) {
	if err := o.Validate(); err != nil {
		return "", err
	}
	var add *redis.StringCmd
	var wait *pendingWait
	forget := revocationForgetAt(o, time.Now().UnixMilli(), c.cfg.TokenLifetime)
	_, err := c.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		if o.Op == OpRevoke {
			pipe.ZAddGT(ctx, c.keys.Revoked(), redis.Z{Score: float64(forget), Member: revocationMember(o)})
		}
		add = pipe.XAdd(ctx, &redis.XAddArgs{Stream: c.keys.Control(), MaxLen: c.cfg.MaxLen, Approx: true, Values: o.fields()})
		wait = c.wait.queue(ctx, pipe)
		return nil
	})
	if err == nil {
		if o.Op == OpRevoke { // held by Redis now: this node acts on it at once
			c.revoked.add(o, forget)
		}
		err = c.wait.done(ctx, wait)
	}
	if err != nil {
		c.metrics.RedisErrors.WithLabelValues("control").Inc()
		return "", fmt.Errorf("streams: append to %s: %w", c.keys.Control(), err)
	}
	return add.Val(), nil
}

// store keeps revocation o, made at unix ms at, in this node's memory and in
// Redis until its tokens have expired (ZADD GT: a later copy never shortens it).
// One this node holds already is not written again: a node that starts reads
// the whole stream, whose revocations are mostly stored.
func (c *Control) store(ctx context.Context, o ControlOp, at int64) error {
	forget := revocationForgetAt(o, at, c.cfg.TokenLifetime)
	if !c.revoked.add(o, forget) {
		return nil
	}
	err := c.rdb.ZAddGT(ctx, c.keys.Revoked(), redis.Z{Score: float64(forget), Member: revocationMember(o)}).Err()
	if err != nil {
		c.metrics.RedisErrors.WithLabelValues("control").Inc()
		return fmt.Errorf("streams: store revocation: %w", err)
	}
	return nil
}

// Start loads the revocations and reads the whole control stream before it
// returns, so that a node refuses revoked tokens from its first connection
// (entries a service appended itself are in the stream only); then it reads on
// in the background until Stop. Call it before the node serves.
func (c *Control) Start(ctx context.Context) error {
	c.started.Store(true)
	if err := c.load(ctx); err != nil {
		close(c.done)
		return err
	}
	c.last = "0-0"
	for {
		n, err := c.readRange(ctx)
		if err != nil {
			close(c.done)
			return err
		}
		if n == 0 {
			break
		}
	}
	go c.run()
	return nil
}

// load reads the stored revocations that still apply.
func (c *Control) load(ctx context.Context) error {
	now := time.Now().UnixMilli()
	zs, err := c.rdb.ZRangeByScoreWithScores(ctx, c.keys.Revoked(), &redis.ZRangeBy{
		Min: "(" + strconv.FormatInt(now, 10), Max: "+inf"}).Result()
	if err != nil {
		return fmt.Errorf("streams: load revocations: %w", err)
	}
	for _, z := range zs {
		if o, ok := parseRevocationMember(z.Member.(string)); ok {
			c.revoked.add(o, int64(z.Score))
		}
	}
	return nil
}

// controlPage is how many control entries one read takes.
const controlPage = 500

// readRange reads the next page of the stream without blocking, for the start.
func (c *Control) readRange(ctx context.Context) (int, error) {
	msgs, err := c.rdb.XRangeN(ctx, c.keys.Control(), "("+c.last, "+", controlPage).Result()
	if err != nil {
		return 0, fmt.Errorf("streams: read %s: %w", c.keys.Control(), err)
	}
	c.handle(ctx, msgs)
	return len(msgs), nil
}

// Stop ends the reader. Idempotent; without a Start it returns at once.
func (c *Control) Stop(ctx context.Context) {
	c.once.Do(c.stop)
	if !c.started.Load() {
		return
	}
	select {
	case <-c.done:
	case <-ctx.Done():
	}
}

func (c *Control) run() {
	defer close(c.done)
	backoff := newBackoff(50*time.Millisecond, 2*time.Second)
	for c.ctx.Err() == nil {
		c.maintain(time.Now())
		msgs, err := c.read()
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			c.failed = true
			c.metrics.RedisErrors.WithLabelValues("control").Inc()
			c.log.warn("control stream: read failing", err)
			sleepOrStop(backoff.next(), c.ctx.Done())
			continue
		}
		backoff.reset()
		if c.failed && c.load(c.ctx) == nil {
			// Cut off for a while: the stream may have been trimmed past the
			// last entry read, but the revocations it held are stored.
			c.failed = false
		}
		c.handle(c.ctx, msgs)
	}
}

// read waits up to Block for entries after the last one read.
func (c *Control) read() ([]redis.XMessage, error) {
	streams, err := c.rdb.XRead(c.ctx, &redis.XReadArgs{
		Streams: []string{c.keys.Control(), c.last}, Count: controlPage, Block: c.cfg.Block,
	}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil
	case err != nil:
		return nil, err
	case len(streams) == 0:
		return nil, nil
	}
	return streams[0].Messages, nil
}

// maintainEvery is how often expired revocations are forgotten and the control
// stream trimmed (services appending themselves may not trim it).
const maintainEvery = time.Minute

func (c *Control) maintain(now time.Time) {
	if now.Before(c.pruneAt) {
		return
	}
	c.pruneAt = now.Add(maintainEvery)
	c.revoked.prune(now.UnixMilli())
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	_, err := c.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.ZRemRangeByScore(ctx, c.keys.Revoked(), "-inf", strconv.FormatInt(now.UnixMilli(), 10))
		pipe.XTrimMaxLenApprox(ctx, c.keys.Control(), c.cfg.MaxLen, 0)
		return nil
	})
	if err != nil && c.ctx.Err() == nil {
		c.failed = true
		c.metrics.RedisErrors.WithLabelValues("control").Inc()
	}
}

// handle acts on each entry in order: a bad one is dead-lettered, a revocation
// stored and applied, a disconnect applied.
func (c *Control) handle(ctx context.Context, msgs []redis.XMessage) {
	for _, m := range msgs {
		c.last = m.ID
		o, err := ParseControl(m.Values)
		if err != nil {
			c.deadLetter(ctx, m, err.Error())
			continue
		}
		if o.Op == OpRevoke {
			if err := c.store(ctx, o, entryMs(m.ID)); err != nil {
				c.log.warn("control stream: storing a revocation failing", err)
			}
		}
		c.apply(o)
		c.metrics.ControlEntries.WithLabelValues(o.Op, "applied").Inc()
	}
}

// entryMs is the time part of a stream entry id (unix ms).
func entryMs(id string) int64 {
	return int64(wire.MustOffset(id).Ms)
}

// controlDeadLetterScript appends a bad control entry to the dead letters once,
// whichever of the nodes that all read it gets there first: KEYS[1] the marker,
// KEYS[2] the dead-letter stream (one slot).
var controlDeadLetterScript = redis.NewScript(`
if redis.call('set', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  redis.call('xadd', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'reason', ARGV[3], 'entry', ARGV[4], 'stream', ARGV[5], 'id', ARGV[6])
  return 1
end
return 0`)

// deadLetteredFor is how long a control entry's dead-letter marker lives. A node
// that starts reads the whole stream again; it does not dead-letter entries older
// than half of it, which the nodes running then did.
const deadLetteredFor = 24 * time.Hour

func (c *Control) deadLetter(ctx context.Context, m redis.XMessage, reason string) {
	c.metrics.ControlEntries.WithLabelValues("invalid", "dead_lettered").Inc()
	if time.Since(time.UnixMilli(entryMs(m.ID))) > deadLetteredFor/2 {
		return
	}
	entry, _ := json.Marshal(m.Values)
	err := controlDeadLetterScript.Run(ctx, c.rdb,
		[]string{c.keys.ControlDeadLettered(m.ID), c.keys.DeadLetters()},
		deadLetteredFor.Milliseconds(), c.cfg.DLQMaxLen, reason, string(entry), c.keys.Control(), m.ID).Err()
	if err != nil {
		c.metrics.RedisErrors.WithLabelValues("dead_letter").Inc()
		c.log.warn("control stream: dead-lettering failing", err)
		return
	}
	logDeadLetter(c.dlog, c.keys.Control(), deadLetter{id: m.ID, reason: reason})
}
