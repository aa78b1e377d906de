package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// ClusterConfig tunes how nodes watch each other.
type ClusterConfig struct {
	Node     string
	NodeTTL  time.Duration // silent this long: dead
	Debounce time.Duration // presence.debounce
}

// Cluster is this node's membership: it heartbeats into the nodes set, declares
// silent nodes dead and cleans up after them (presence, session counts, inbox,
// offline events), and emits the debounced offline events.
type Cluster struct {
	rdb      redis.UniversalClient
	keys     Keys
	cfg      ClusterConfig
	presence *Presence
	events   presenceEvents
	onLost   func()
	sessions func() int // this node's open sessions, published with the heartbeat
	log      *rateLog
	metrics  *Metrics
	health   *Health

	beats    int       // successful heartbeats
	lastBeat time.Time // of the last successful heartbeat
	// reaped are the nodes this node cleaned up lately. A router that read their
	// presence just before the cleanup can still append to their inbox after it,
	// recreating the key; such leftovers are deleted again for 2 x NodeTTL.
	reaped       map[string]time.Time
	healthySince time.Time // Redis reachable without a break since
	stop         chan struct{}
	done         chan struct{}
	once         sync.Once
}

// NewCluster returns the membership of cfg.Node. onLost runs when the node finds
// it was declared dead, or Redis lost its data: its sessions missed live pushes and
// must resume from history.
func NewCluster(rdb redis.UniversalClient, keys Keys, cfg ClusterConfig, p *Presence, onLost func(), log *slog.Logger, m *Metrics, h *Health) *Cluster {
	return &Cluster{
		rdb: rdb, keys: keys, cfg: cfg, presence: p, onLost: onLost,
		events: presenceEvents{rdb: rdb, keys: keys, debounce: cfg.Debounce, metrics: m},
		log:    newRateLog(log, 10*time.Second), metrics: m, health: h,
		stop: make(chan struct{}), done: make(chan struct{}),
		reaped: make(map[string]time.Time),
	}
}

// Start clears what a previous run with this node id left (it died without
// draining: its presence entries and session counts would outlive it, as the node
// id keeps heartbeating and is never reaped), heartbeats once (so that the node is
// known before it serves) and then runs the membership loop. It is called once.
func (c *Cluster) Start(ctx context.Context) error {
	if err := c.begin(ctx); err != nil {
		// No loop runs: Stop must not wait for one. A node whose start failed
		// here stopped its helpers without a deadline and hung for good.
		close(c.done)
		return err
	}
	go c.run()
	return nil
}

func (c *Cluster) begin(ctx context.Context) error {
	if err := c.unlistRecipients(ctx, c.cfg.Node); err != nil {
		return err
	}
	if err := c.rdb.Del(ctx, c.keys.NodeRecipients(c.cfg.Node)).Err(); err != nil {
		return fmt.Errorf("streams: clear previous run: %w", err)
	}
	return c.heartbeat(ctx)
}

// CountSessions makes the heartbeat publish sessions() in NodeSessions, for the
// server API's stats. Call it before Start.
func (c *Cluster) CountSessions(sessions func() int) { c.sessions = sessions }

// publishSessions writes this node's session count; a failure is counted and
// the next heartbeat writes it again.
func (c *Cluster) publishSessions(ctx context.Context) {
	if c.sessions == nil {
		return
	}
	if err := c.rdb.HSet(ctx, c.keys.NodeSessions(), c.cfg.Node, c.sessions()).Err(); err != nil {
		c.metrics.RedisErrors.WithLabelValues("heartbeat").Inc()
	}
}

// Stop ends the loop. Idempotent.
func (c *Cluster) Stop(ctx context.Context) {
	c.once.Do(func() { close(c.stop) })
	select {
	case <-c.done:
	case <-ctx.Done():
	}
}

// Leave removes this node from the cluster after a drain: its entry, its recipient
// index and its inbox. Its presence was removed by the drain itself.
func (c *Cluster) Leave(ctx context.Context) error {
	_, err := c.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.ZRem(ctx, c.keys.Nodes(), c.cfg.Node)
		pipe.HDel(ctx, c.keys.NodeSessions(), c.cfg.Node)
		pipe.Del(ctx, c.keys.NodeRecipients(c.cfg.Node))
		pipe.Del(ctx, c.keys.Inbox(c.cfg.Node))
		return nil
	})
	if err != nil {
		return fmt.Errorf("streams: leave cluster: %w", err)
	}
	return nil
}

// tickSlack keeps a tick that comes a little early from skipping a heartbeat
// (and doubling the time between two).
const tickSlack = 100 * time.Millisecond

func (c *Cluster) run() {
	defer close(c.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	every := max(c.cfg.NodeTTL/3, time.Second)
	var beatAt, reapAt time.Time
	for {
		select {
		case <-c.stop:
			return
		case now := <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), every)
			if now.After(beatAt) {
				beatAt = now.Add(every - tickSlack)
				c.warn("cluster: heartbeat failing", c.heartbeat(ctx))
			}
			if now.After(reapAt) {
				reapAt = now.Add(every - tickSlack)
				c.redisFailed(c.warn("cluster: reaping failing", c.reap(ctx, now)))
			}
			c.redisFailed(c.warn("cluster: offline events failing", c.events.emitOffline(ctx, now)))
			cancel()
		}
	}
}

func (c *Cluster) warn(msg string, err error) error {
	if err != nil {
		c.log.warn(msg, err)
	}
	return err
}

// redisFailed ends the time this node counts as reaching Redis without a break
// when any of its Redis calls failed, not only a heartbeat: with Redis paused, the
// loop is usually blocked in another call, and right after Redis came back every
// other node's heartbeat would look older than node_ttl.
func (c *Cluster) redisFailed(err error) {
	if err != nil {
		c.healthySince = time.Time{}
	}
}

// heartbeat records this node as alive. When its entry had vanished although it had
// beaten before, the node was declared dead meanwhile (or Redis lost its data): its
// presence was removed, so it writes it again and has its sessions resume.
func (c *Cluster) heartbeat(ctx context.Context) error {
	now := time.Now()
	gap := now.Sub(c.lastBeat)
	if !c.lastBeat.IsZero() && gap > c.cfg.NodeTTL/2 {
		// Silent long enough to be declared dead soon, or already (paused, cut off):
		// no presence is written until this heartbeat tells. Written before the
		// sessions that missed pushes meanwhile are closed, it would let newer pushes
		// reach them, and their clients would resume after the gap.
		c.presence.Hold()
	}
	if !c.lastBeat.IsZero() && gap > c.cfg.NodeTTL {
		c.healthySince = time.Time{} // silent itself (paused): it judges others only later
	}
	added, err := c.rdb.ZAdd(ctx, c.keys.Nodes(), redis.Z{Score: float64(now.UnixMilli()), Member: c.cfg.Node}).Result()
	if err != nil {
		c.healthySince = time.Time{}
		c.health.fail("cluster")
		c.metrics.RedisErrors.WithLabelValues("heartbeat").Inc()
		return fmt.Errorf("streams: heartbeat: %w", err)
	}
	c.health.ok("cluster")
	if c.healthySince.IsZero() {
		c.healthySince = now
	}
	c.lastBeat = now
	if added == 1 && c.beats > 0 {
		if c.onLost != nil {
			c.onLost() // first: the sessions are closed before presence brings pushes again
		}
		c.presence.Resync()
	}
	c.presence.Release()
	c.publishSessions(ctx)
	c.beats++
	return nil
}

// reap cleans up after nodes silent longer than the TTL. A node that itself could
// not reach Redis recently does not judge others: they were likely cut off too.
func (c *Cluster) reap(ctx context.Context, now time.Time) error {
	if c.healthySince.IsZero() || now.Sub(c.healthySince) < c.cfg.NodeTTL {
		return nil
	}
	c.sweepReaped(ctx, now)
	cutoff := now.Add(-c.cfg.NodeTTL).UnixMilli()
	dead, err := c.rdb.ZRangeByScore(ctx, c.keys.Nodes(), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(cutoff, 10)}).Result()
	if err != nil {
		return fmt.Errorf("streams: list nodes: %w", err)
	}
	var errs []error
	for _, node := range dead {
		if node != c.cfg.Node {
			errs = append(errs, c.reapNode(ctx, node, cutoff))
		}
	}
	return errors.Join(errs...)
}

func (c *Cluster) reapNode(ctx context.Context, node string, cutoff int64) error {
	got, err := c.rdb.SetNX(ctx, c.keys.Reaping(node), c.cfg.Node, c.cfg.NodeTTL).Result()
	if err != nil || !got {
		return err // another node is on it
	}
	// It may have come back between the listing and the lock.
	if score, err := c.rdb.ZScore(ctx, c.keys.Nodes(), node).Result(); err != nil || int64(score) > cutoff {
		return nil
	}
	if err := c.unlistRecipients(ctx, node); err != nil {
		return err
	}
	_, err = c.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Del(ctx, c.keys.NodeRecipients(node), c.keys.Inbox(node))
		pipe.ZRem(ctx, c.keys.Nodes(), node)
		pipe.HDel(ctx, c.keys.NodeSessions(), node)
		return nil
	})
	if err != nil {
		return fmt.Errorf("streams: reap %s: %w", node, err)
	}
	c.metrics.NodesReaped.Inc()
	c.reaped[node] = time.Now()
	return nil
}

// sweepReaped deletes what late appends recreated for recently reaped nodes. A
// node that came back (it heartbeats again: it was paused, not dead) is left
// alone: its inbox holds pushes for its sessions again, and deleting it would
// lose them (its sessions would be closed to resume, but only after the loss).
func (c *Cluster) sweepReaped(ctx context.Context, now time.Time) {
	for node, at := range c.reaped {
		if now.Sub(at) > 2*c.cfg.NodeTTL {
			delete(c.reaped, node)
			continue
		}
		if err := c.rdb.ZScore(ctx, c.keys.Nodes(), node).Err(); !errors.Is(err, redis.Nil) {
			if err == nil {
				delete(c.reaped, node) // back
			}
			continue
		}
		_ = c.rdb.Del(ctx, c.keys.Inbox(node), c.keys.NodeRecipients(node)).Err()
	}
}

// unlistRecipients takes a dead node out of the presence of every recipient it
// hosted, drops its session counts, and schedules offline events for users it was
// the last node of.
func (c *Cluster) unlistRecipients(ctx context.Context, node string) error {
	var cursor uint64
	for {
		members, next, err := c.rdb.SScan(ctx, c.keys.NodeRecipients(node), cursor, "", 500).Result()
		if err != nil {
			return fmt.Errorf("streams: scan recipients of %s: %w", node, err)
		}
		if err := c.unlistBatch(ctx, node, members); err != nil {
			return err
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

func (c *Cluster) unlistBatch(ctx context.Context, node string, members []string) error {
	rcpts := make([]wire.Recipient, 0, len(members))
	cmds := make([]*redis.Cmd, 0, len(members))
	_, err := c.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, m := range members {
			r, err := wire.ParseRecipient(m)
			if err != nil {
				continue
			}
			rcpts = append(rcpts, r)
			cmds = append(cmds, c.events.removeCmd(ctx, pipe, r, node))
			unlistDetails(ctx, pipe, c.keys, r, node)
			if r.Kind == wire.KindUser {
				pipe.HDel(ctx, c.keys.Sessions(r.Name), node)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("streams: unlist %s: %w", node, err)
	}
	var gone []string
	for i, r := range rcpts {
		if n, _ := cmds[i].Int(); n == 1 && r.Kind == wire.KindUser {
			gone = append(gone, r.Name)
		}
	}
	return c.events.announce(ctx, nil, gone, time.Now())
}
