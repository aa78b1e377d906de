package streams

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// takeScript takes a free lease, or one this node id still holds from a previous
// run (a restart with the same node.id need not wait for it to expire).
var takeScript = redis.NewScript(`
local h = redis.call('get', KEYS[1])
if h == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end
if not h then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`)

var renewScript = redis.NewScript(`if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`)
var releaseScript = redis.NewScript(`if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`)

// fencedAckScript acknowledges ingress entries only while this node holds the
// partition's lease (-1 otherwise). A router that lost its lease without knowing it
// yet (paused past lease_ttl, or cut off from Redis while the lease expired) may
// still hand off what it had in flight: those pushes can reach a session after
// newer ones of the new holder. Left pending, they are reclaimed and appended
// again with a newer offset, so a client that resumed from the newer offset still
// gets them. The lease and the stream share a hash slot (Keys.Lease). XACK takes
// its ids in chunks: Lua's unpack has a stack limit.
var fencedAckScript = redis.NewScript(`
if redis.call('get', KEYS[1]) ~= ARGV[1] then return -1 end
local n = 0
for i = 3, #ARGV, 1000 do
  n = n + redis.call('xack', KEYS[2], ARGV[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return n`)

// errLeaseLost: an acknowledgement was refused because another node holds the
// partition's lease now.
var errLeaseLost = errors.New("streams: partition lease lost")

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
		return l.tookLease(ctx)
	}
	return nil
}

// tookLease prepares a fresh tenure: the group exists, this consumer's own
// pending entries are routed first, a reclaim pass runs at once, and nothing is
// delivered to local sessions directly before this node's inbox is settled.
func (l *partitionLoop) tookLease(ctx context.Context) error {
	if err := createGroup(ctx, l.rdb, l.stream, groupRouter); err != nil {
		return err
	}
	fence, err := l.readFence(ctx)
	if err != nil {
		l.metrics.RedisErrors.WithLabelValues("lease").Inc()
		return err
	}
	l.holding, l.retryOwn, l.fence = true, true, fence
	l.renewAt = time.Now().Add(l.cfg.LeaseTTL / 3)
	l.reclaimAt = time.Time{}
	return nil
}

// readFence notes how far this node's inbox goes when the lease is taken. The
// previous holder handed this partition's pushes for local sessions to that
// inbox; delivered directly, a newer push would overtake them, and a client that
// disconnected between the two and resumed from the newer offset would never see
// the older one. nil: nothing to wait for.
func (l *partitionLoop) readFence(ctx context.Context) (*InboxFence, error) {
	if l.own == nil {
		return nil, nil
	}
	inbox := l.keys.Inbox(l.cfg.Node)
	pipe := l.rdb.Pipeline()
	top := pipe.XRevRangeN(ctx, inbox, "+", "-", 1)
	groups := pipe.XInfoGroups(ctx, inbox)
	_, _ = pipe.Exec(ctx)
	msgs, err := top.Result()
	if err != nil {
		return nil, fmt.Errorf("streams: read inbox top %s: %w", inbox, err)
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	f := &InboxFence{Top: wire.MustOffset(msgs[0].ID)}
	gs, err := groups.Result()
	if err != nil && !isNoSuchKey(err) {
		return nil, fmt.Errorf("streams: read inbox groups %s: %w", inbox, err)
	}
	for _, g := range gs {
		if g.Name == groupNode {
			f.Delivered = wire.MustOffset(g.LastDeliveredID)
		}
	}
	return f, nil
}

func isNoSuchKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such key")
}

func (l *partitionLoop) release() {
	if !l.holding {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = releaseScript.Run(ctx, l.rdb, []string{l.lease}, l.cfg.Node).Err()
}

// queueAck queues the acknowledgement of the entries whose hand-off was confirmed
// in an earlier round trip, fenced by the lease.
func (l *partitionLoop) queueAck(ctx context.Context, pipe redis.Pipeliner) *redis.Cmd {
	if len(l.toAck) == 0 {
		return nil
	}
	args := make([]any, 0, 2+len(l.toAck))
	args = append(args, l.cfg.Node, groupRouter)
	for _, id := range l.toAck {
		args = append(args, id)
	}
	l.acking, l.toAck = l.toAck, nil
	return fencedAckScript.Eval(ctx, pipe, []string{l.lease, l.stream}, args...)
}

// ackDone checks an acknowledgement: on a Redis error the ids are acknowledged
// again later; when the lease was lost they stay pending for the new holder.
func (l *partitionLoop) ackDone(c *redis.Cmd) error {
	n, err := c.Int64()
	acked := l.acking
	l.acking = nil
	switch {
	case err != nil:
		l.toAck = append(acked, l.toAck...)
		l.metrics.RedisErrors.WithLabelValues("ack").Inc()
		return fmt.Errorf("streams: ack %s: %w", l.stream, err)
	case n < 0:
		l.metrics.LeaseLostAcks.Add(float64(len(acked)))
		return errLeaseLost
	}
	return nil
}

// flushAcks sends the acknowledgements still owed, in a round trip of their own
// (only when nothing else is in flight to carry them).
func (l *partitionLoop) flushAcks(ctx context.Context) error {
	if len(l.toAck) == 0 {
		return nil
	}
	pipe := l.rdb.Pipeline()
	c := l.queueAck(ctx, pipe)
	_, _ = pipe.Exec(ctx)
	return l.leaseCheck(l.ackDone(c))
}

// leaseCheck turns errLeaseLost into giving the partition up: everything in flight
// stays pending for the new holder.
func (l *partitionLoop) leaseCheck(err error) error {
	if errors.Is(err, errLeaseLost) {
		l.holding = false
		l.drop()
		return nil
	}
	return err
}
