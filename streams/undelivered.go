package streams

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/gateway/wire"
)

var (
	// ackScript drops from a user's waiting set every offset up to the acked one.
	ackScript = redis.NewScript(`
local am, as = string.match(ARGV[1], '^(%d+)-(%d+)$')
am, as = tonumber(am), tonumber(as)
for _, m in ipairs(redis.call('zrange', KEYS[1], 0, -1)) do
  local ms, seq = string.match(m, '^(%d+)-(%d+)$')
  ms, seq = tonumber(ms), tonumber(seq)
  if ms < am or (ms == am and seq <= as) then redis.call('zrem', KEYS[1], m) end
end
return 0`)
	// popDueScript takes the offsets whose deadline passed, once, and returns them
	// with the next deadline.
	popDueScript = redis.NewScript(`
local due = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1])
if #due > 0 then redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[1]) end
return {due, redis.call('zrange', KEYS[1], 0, 0, 'WITHSCORES')}`)
)

// Undelivered implements delivery.ack_timeout: user pushes no device acked in time
// are appended, once, to herald:undelivered for a fallback channel (mobile push,
// e-mail). The router registers each user push; acks from sessions clear them.
type Undelivered struct {
	rdb     redis.UniversalClient
	keys    Keys
	timeout time.Duration
	log     *rateLog
	metrics *Metrics

	mu    sync.Mutex
	acked map[string]wire.Offset // user -> newest ack not yet written
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// NewUndelivered returns the tracker; timeout 0 turns it off.
func NewUndelivered(rdb redis.UniversalClient, keys Keys, timeout time.Duration, log *slog.Logger, m *Metrics) *Undelivered {
	return &Undelivered{rdb: rdb, keys: keys, timeout: timeout, log: newRateLog(log, 10*time.Second), metrics: m,
		acked: make(map[string]wire.Offset), stop: make(chan struct{}), done: make(chan struct{})}
}

// Enabled reports whether delivery.ack_timeout is set.
func (u *Undelivered) Enabled() bool { return u != nil && u.timeout > 0 }

// await queues, in the router's pipeline, the wait for an ack of a user push.
func (u *Undelivered) await(ctx context.Context, pipe redis.Pipeliner, p *wire.Push, now time.Time) {
	if !u.Enabled() || p.Recipient.Kind != wire.KindUser {
		return
	}
	due := float64(now.Add(u.timeout).UnixMilli())
	pipe.ZAdd(ctx, u.keys.AckWait(p.Recipient.Name), redis.Z{Score: due, Member: p.Offset.String()})
	pipe.ZAddLT(ctx, u.keys.AckDue(), redis.Z{Score: due, Member: p.Recipient.Name})
}

// Ack records that a session of user handled everything up to o.
func (u *Undelivered) Ack(user string, o wire.Offset) {
	if !u.Enabled() {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if cur, ok := u.acked[user]; !ok || cur.Less(o) {
		u.acked[user] = o
	}
}

// Start runs the loop that writes acks and emits what is overdue.
func (u *Undelivered) Start() {
	go func() {
		defer close(u.done)
		if !u.Enabled() {
			<-u.stop
			return
		}
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-u.stop:
				u.flushAcks(context.Background())
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				u.flushAcks(ctx)
				if i%5 == 0 {
					if err := u.emitDue(ctx, time.Now()); err != nil {
						u.log.warn("undelivered: check failing", err)
					}
				}
				cancel()
			}
		}
	}()
}

// Stop writes pending acks and ends the loop. Idempotent.
func (u *Undelivered) Stop(ctx context.Context) {
	u.once.Do(func() { close(u.stop) })
	select {
	case <-u.done:
	case <-ctx.Done():
	}
}

func (u *Undelivered) flushAcks(ctx context.Context) {
	u.mu.Lock()
	batch := u.acked
	if len(batch) == 0 {
		u.mu.Unlock()
		return
	}
	u.acked = make(map[string]wire.Offset, len(batch))
	u.mu.Unlock()
	_, err := u.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for user, o := range batch {
			ackScript.Eval(ctx, pipe, []string{u.keys.AckWait(user)}, o.String())
		}
		return nil
	})
	if err != nil {
		u.metrics.RedisErrors.WithLabelValues("ack_wait").Inc()
		for user, o := range batch {
			u.Ack(user, o)
		}
	}
}

// emitDue appends every overdue push of every due user to herald:undelivered. Any
// node may run it; popDueScript hands each push to one of them.
func (u *Undelivered) emitDue(ctx context.Context, now time.Time) error {
	nowMs := strconv.FormatInt(now.UnixMilli(), 10)
	users, err := u.rdb.ZRangeByScore(ctx, u.keys.AckDue(), &redis.ZRangeBy{Min: "-inf", Max: nowMs, Count: 200}).Result()
	if err != nil {
		return fmt.Errorf("streams: due acks: %w", err)
	}
	for _, user := range users {
		if err := u.emitUser(ctx, user, nowMs); err != nil {
			return err
		}
	}
	return nil
}

func (u *Undelivered) emitUser(ctx context.Context, user, nowMs string) error {
	res, err := popDueScript.Run(ctx, u.rdb, []string{u.keys.AckWait(user)}, nowMs).Slice()
	if err != nil || len(res) != 2 {
		return fmt.Errorf("streams: pop due acks of %s: %w", user, err)
	}
	due, _ := res[0].([]any)
	next, _ := res[1].([]any)
	if err := u.reindex(ctx, user, next); err != nil {
		return err
	}
	for _, d := range due {
		off, _ := d.(string)
		if err := u.emitOne(ctx, user, off); err != nil {
			return err
		}
	}
	return nil
}

// reindex keeps the user in the due index at its next deadline, or drops it; the
// re-check after dropping closes the race with a router adding a push meanwhile.
func (u *Undelivered) reindex(ctx context.Context, user string, next []any) error {
	if len(next) == 2 {
		score, _ := strconv.ParseFloat(fmt.Sprint(next[1]), 64)
		return u.rdb.ZAdd(ctx, u.keys.AckDue(), redis.Z{Score: score, Member: user}).Err()
	}
	if err := u.rdb.ZRem(ctx, u.keys.AckDue(), user).Err(); err != nil {
		return err
	}
	left, err := u.rdb.ZRangeWithScores(ctx, u.keys.AckWait(user), 0, 0).Result()
	if err != nil || len(left) == 0 {
		return err
	}
	return u.rdb.ZAddLT(ctx, u.keys.AckDue(), redis.Z{Score: left[0].Score, Member: user}).Err()
}

func (u *Undelivered) emitOne(ctx context.Context, user, off string) error {
	values := []any{"to", user, "offset", off}
	msgs, err := u.rdb.XRangeN(ctx, u.keys.History(wire.User(user)), off, off, 1).Result()
	if err != nil {
		return fmt.Errorf("streams: history entry %s of %s: %w", off, user, err)
	}
	if len(msgs) == 1 {
		values = append(values, "id", asString(msgs[0].Values[histID]), "data", asString(msgs[0].Values[histData]))
		if from := asString(msgs[0].Values[histFrom]); from != "" {
			values = append(values, "from", from)
		}
	}
	err = u.rdb.XAdd(ctx, &redis.XAddArgs{Stream: u.keys.Undelivered(), MaxLen: eventsMaxLen, Approx: true, Values: values}).Err()
	if err != nil {
		return fmt.Errorf("streams: append undelivered: %w", err)
	}
	u.metrics.Undelivered.Inc()
	return nil
}
