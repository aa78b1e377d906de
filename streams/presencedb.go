package streams

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// Presence scripts. Each touches the keys of one recipient only (one hash slot).
var (
	// presenceAddScript lists a node; for a user it also sets the online marker and
	// returns 1 when it was absent: the user just came online in the cluster.
	presenceAddScript = redis.NewScript(`
redis.call('sadd', KEYS[1], ARGV[1])
if #KEYS > 1 and redis.call('set', KEYS[2], ARGV[2], 'NX') then return 1 end
return 0`)
	// presenceRemoveScript unlists a node and returns 1 when no node is left.
	presenceRemoveScript = redis.NewScript(`
redis.call('srem', KEYS[1], ARGV[1])
if redis.call('scard', KEYS[1]) == 0 then return 1 end
return 0`)
	// offlineScript returns 1, once, when the user is still gone after the debounce.
	offlineScript = redis.NewScript(`
if redis.call('scard', KEYS[1]) == 0 and redis.call('del', KEYS[2]) == 1 then return 1 end
return 0`)
)

// presenceEvents appends online/offline events and schedules offline checks.
type presenceEvents struct {
	rdb      redis.UniversalClient
	keys     Keys
	debounce time.Duration
	metrics  *Metrics
}

// eventsMaxLen caps herald:presence and herald:undelivered; services are expected to
// read them continuously with a consumer group.
const eventsMaxLen = 100_000

func (e presenceEvents) addCmd(ctx context.Context, pipe redis.Pipeliner, r wire.Recipient, node string, nowMs int64) *redis.Cmd {
	keys := []string{e.keys.Presence(r)}
	if r.Kind == wire.KindUser {
		keys = append(keys, e.keys.Online(r.Name))
	}
	return presenceAddScript.Eval(ctx, pipe, keys, node, nowMs)
}

func (e presenceEvents) removeCmd(ctx context.Context, pipe redis.Pipeliner, r wire.Recipient, node string) *redis.Cmd {
	return presenceRemoveScript.Eval(ctx, pipe, []string{e.keys.Presence(r)}, node)
}

// announce writes the events the presence changes called for: online now, offline
// after the debounce.
func (e presenceEvents) announce(ctx context.Context, online, gone []string, now time.Time) error {
	if len(online) == 0 && len(gone) == 0 {
		return nil
	}
	_, err := e.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, u := range online {
			pipe.XAdd(ctx, e.eventArgs("online", u, now))
			e.metrics.PresenceEvents.WithLabelValues("online").Inc()
		}
		due := float64(now.Add(e.debounce).UnixMilli())
		for _, u := range gone {
			pipe.ZAdd(ctx, e.keys.OfflinePending(), redis.Z{Score: due, Member: u})
		}
		return nil
	})
	if err != nil {
		e.metrics.RedisErrors.WithLabelValues("presence").Inc()
	}
	return err
}

func (e presenceEvents) eventArgs(event, user string, now time.Time) *redis.XAddArgs {
	return &redis.XAddArgs{
		Stream: e.keys.PresenceEvents(), MaxLen: eventsMaxLen, Approx: true,
		Values: []any{"event", event, "user", user, "ts", strconv.FormatInt(now.UnixMilli(), 10)},
	}
}

// emitOffline announces the users whose debounce ran out and who are still gone.
// Any node may run it; the script makes each offline event happen once.
func (e presenceEvents) emitOffline(ctx context.Context, now time.Time) error {
	users, err := e.rdb.ZRangeByScore(ctx, e.keys.OfflinePending(), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: 500,
	}).Result()
	if err != nil || len(users) == 0 {
		return err
	}
	cmds := make([]*redis.Cmd, len(users))
	_, err = e.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, u := range users {
			cmds[i] = offlineScript.Eval(ctx, pipe, []string{e.keys.Presence(wire.User(u)), e.keys.Online(u)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	_, err = e.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, u := range users {
			if n, _ := cmds[i].Int(); n == 1 {
				pipe.XAdd(ctx, e.eventArgs("offline", u, now))
				e.metrics.PresenceEvents.WithLabelValues("offline").Inc()
			}
		}
		members := make([]any, len(users))
		for i, u := range users {
			members[i] = u
		}
		pipe.ZRem(ctx, e.keys.OfflinePending(), members...)
		return nil
	})
	return err
}
