package streams

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// deadLetter is an ingress entry on its way to the dead-letter stream.
type deadLetter struct {
	id     string
	fields map[string]any
	reason string
	class  string // metric label: a small fixed set
	add    *redis.StringCmd
}

// deadLetter stores entries the router gives up on (max deliveries exceeded) and
// acknowledges them. A failed acknowledgement only means they may be stored twice.
func (l *partitionLoop) deadLetter(ctx context.Context, dead []deadLetter) error {
	var wait *pendingWait
	_, err := l.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, d := range dead {
			pipe.XAdd(ctx, dlqArgs(l.keys, l.cfg.DLQMaxLen, l.stream, d))
		}
		wait = l.wait.queue(ctx, pipe) // acknowledged below: on the replicas first
		return nil
	})
	if err == nil {
		if err = l.wait.done(ctx, wait); err != nil {
			l.waitShort(err)
			return err
		}
	}
	if err != nil {
		l.metrics.RedisErrors.WithLabelValues("dead_letter").Inc()
		return fmt.Errorf("streams: dead-letter to %s: %w", l.keys.DeadLetters(), err)
	}
	ids := make([]string, len(dead))
	for i, d := range dead {
		ids[i] = d.id
		l.deadLettered(d)
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

// deadLettered logs d, stored in the dead-letter stream, and counts it (in this
// order, so that a count read says its line was handled).
func (l *partitionLoop) deadLettered(d deadLetter) {
	logDeadLetter(l.log.log, l.stream, d)
	l.metrics.DeadLetters.WithLabelValues(d.class).Inc()
}

// logDeadLetter says at info which entry of stream went to the dead letters and
// why: the metric counts them by class, the line names the entry for whoever
// looks into it. A flood of bad entries is limited by the node's logger
// (internal/loglimit), so it is logged per entry.
func logDeadLetter(log *slog.Logger, stream string, d deadLetter) {
	ctx := context.Background()
	if log.Enabled(ctx, slog.LevelInfo) {
		log.LogAttrs(ctx, slog.LevelInfo, "dead letter", slog.String("stream", stream), slog.String("id", d.id),
			slog.String("reason", d.reason))
	}
}
