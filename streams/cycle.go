package streams

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// cycle is one round trip of the steady state. In one pipeline it hands off the
// batch whose history was appended in the previous round trip, appends the
// history of the batch read in the previous round trip, and reads the next batch
// (without blocking): a batch costs one round trip instead of three (docs/ARCHITECTURE.md
// "Router" has the same commands one batch at a time), and on this
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
	if err := l.wait.done(ctx, wait); err != nil {
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
