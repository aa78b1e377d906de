package streams

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

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

// route does the two pipelines of docs/ARCHITECTURE.md "Router" for one batch, one
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
	if err := l.wait.done(ctx, wait); err != nil {
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
	if err := l.wait.done(ctx, wait); err != nil {
		l.waitShort(err)
		l.held = msgs
		return err
	}
	return l.handOffDone(ctx, h)
}
