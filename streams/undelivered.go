package streams

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

var (
	// ackScript drops from a user's waiting set every offset up to the acked one,
	// and raises the user's newest ack (KEYS[2], for the push-notification
	// fallback: a push acked after its undelivered event is not notified).
	ackScript = redis.NewScript(`
local am, as = string.match(ARGV[1], '^(%d+)-(%d+)$')
am, as = tonumber(am), tonumber(as)
for _, m in ipairs(redis.call('zrange', KEYS[1], 0, -1)) do
  local ms, seq = string.match(m, '^(%d+)-(%d+)$')
  ms, seq = tonumber(ms), tonumber(seq)
  if ms < am or (ms == am and seq <= as) then redis.call('zrem', KEYS[1], m) end
end
local cur = redis.call('get', KEYS[2])
if cur then
  local cm, cs = string.match(cur, '^(%d+)-(%d+)$')
  cm, cs = tonumber(cm), tonumber(cs)
  if cm and (cm > am or (cm == am and cs >= as)) then return 0 end
end
redis.call('set', KEYS[2], ARGV[1], 'px', ARGV[2])
return 0`)
	// claimDueScript claims the offsets whose deadline passed for one emitter: it
	// moves their deadline to the end of the claim instead of removing them, so
	// that an emitter that fails (Redis error, crash) before its event is stored
	// leaves them to be emitted again once the claim ends. They are removed only
	// after their event was appended: at least once.
	claimDueScript = redis.NewScript(`
local due = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, m in ipairs(due) do redis.call('zadd', KEYS[1], ARGV[2], m) end
return due`)
)

// Undelivered implements delivery.ack_timeout: user pushes no device acked in time
// are appended, once, to herald:undelivered for a fallback channel (mobile push,
// e-mail). The router registers each user push; acks from sessions clear them.
type Undelivered struct {
	rdb     redis.UniversalClient
	keys    Keys
	timeout time.Duration
	claim   time.Duration // undeliveredClaim; shorter in tests
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
	return &Undelivered{rdb: rdb, keys: keys, timeout: timeout, claim: undeliveredClaim, log: newRateLog(log, 10*time.Second), metrics: m,
		acked: make(map[string]wire.Offset), stop: make(chan struct{}), done: make(chan struct{})}
}

// Enabled reports whether delivery.ack_timeout is set.
func (u *Undelivered) Enabled() bool { return u != nil && u.timeout > 0 }

// await queues, in the router's pipeline, the wait for an ack of a user push.
// It returns the commands, which the router checks before it acknowledges the
// push's ingress entry; nil when there is nothing to wait for.
func (u *Undelivered) await(ctx context.Context, pipe redis.Pipeliner, p *wire.Push, now time.Time) []redis.Cmder {
	if !u.Enabled() || p.Recipient.Kind != wire.KindUser {
		return nil
	}
	due := float64(now.Add(u.timeout).UnixMilli())
	return []redis.Cmder{
		pipe.ZAdd(ctx, u.keys.AckWait(p.Recipient.Name), redis.Z{Score: due, Member: p.Offset.String()}),
		pipe.ZAddLT(ctx, u.keys.AckDue(), redis.Z{Score: due, Member: p.Recipient.Name}),
	}
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
			ackScript.Eval(ctx, pipe, []string{u.keys.AckWait(user), u.keys.Acked(user)}, o.String(), ackedTTL.Milliseconds())
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

// ackedTTL is how long a user's newest ack is kept after it was last raised:
// longer than push.grace plus the fallback's retries of one event.
const ackedTTL = 24 * time.Hour

// Claims of overdue offsets: how long an emitter has to append their events
// before another may, and how many one claim takes.
const (
	undeliveredClaim    = 30 * time.Second
	undeliveredPerClaim = 100
)

// emitDue appends every overdue push of every due user to herald:undelivered. Any
// node may run it; claimDueScript hands each push to one of them at a time.
func (u *Undelivered) emitDue(ctx context.Context, now time.Time) error {
	nowMs := strconv.FormatInt(now.UnixMilli(), 10)
	users, err := u.rdb.ZRangeByScore(ctx, u.keys.AckDue(), &redis.ZRangeBy{Min: "-inf", Max: nowMs, Count: 200}).Result()
	if err != nil {
		return fmt.Errorf("streams: due acks: %w", err)
	}
	for _, user := range users {
		if err := u.emitUser(ctx, user, now); err != nil {
			return err
		}
	}
	return nil
}

// emitUser claims the user's overdue offsets, appends their events and only then
// removes them. A failure leaves the rest claimed: emitted again when the claim
// ends (an event may thus be appended twice; it carries the push id).
func (u *Undelivered) emitUser(ctx context.Context, user string, now time.Time) error {
	key := u.keys.AckWait(user)
	due, err := claimDueScript.Run(ctx, u.rdb, []string{key},
		now.UnixMilli(), now.Add(u.claim).UnixMilli(), undeliveredPerClaim).StringSlice()
	if err != nil {
		return fmt.Errorf("streams: claim due acks of %s: %w", user, err)
	}
	emitted := 0
	var emitErr error
	for _, off := range due {
		if emitErr = u.emitOne(ctx, user, off); emitErr != nil {
			break
		}
		emitted++
	}
	if emitted > 0 {
		members := make([]any, emitted)
		for i, off := range due[:emitted] {
			members[i] = off
		}
		if err := u.rdb.ZRem(ctx, key, members...).Err(); err != nil {
			return fmt.Errorf("streams: clear emitted acks of %s: %w", user, err)
		}
	}
	if err := u.reindex(ctx, user); err != nil {
		return err
	}
	return emitErr
}

// reindex puts the user in the due index at its earliest deadline left, or
// leaves it out. Removing first and adding with LT closes the race with a router
// adding an earlier deadline meanwhile.
func (u *Undelivered) reindex(ctx context.Context, user string) error {
	if err := u.rdb.ZRem(ctx, u.keys.AckDue(), user).Err(); err != nil {
		return fmt.Errorf("streams: reindex acks of %s: %w", user, err)
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
