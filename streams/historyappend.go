package streams

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// queueAppend queues r's history append and, when due, its TTL, under r's
// history (RouterConfig.History, else history.size and history.ttl), and returns
// the reply that carries the push's offset.
//
// A live-only topic gets no stream: its push's offset is its ingress entry id,
// answered here without a command. Ingress ids grow per partition, and every push
// of a topic goes through its one partition, so the offsets a subscriber sees
// still grow; an entry routed again keeps its id, so a subscriber drops it as a
// duplicate by offset.
func (l *partitionLoop) queueAppend(ctx context.Context, pipe redis.Pipeliner, r *routed, now time.Time) *redis.Cmd {
	maxLen, ttlMs, every := l.maxLenArg, l.ttlArg, l.ttl.every
	if lim := l.cfg.History.For(r.push.Recipient); lim != nil {
		if lim.Size == 0 {
			add := redis.NewCmd(ctx, "xadd", r.key)
			add.SetVal(r.id)
			return add
		}
		maxLen, ttlMs, every = lim.maxLen, lim.ttlMs, lim.every
	}
	key := any(r.key)
	add := pipe.Do(ctx, l.historyArgs(key, r.push, maxLen)...)
	if l.ttl.dueEvery(r.key, now, every) {
		a := l.args.take(3)
		a[0], a[1], a[2] = "pexpire", key, ttlMs
		pipe.Do(ctx, a...)
	}
	return add
}
