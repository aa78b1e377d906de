package streams

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// markAdmitted is the PushMarks field of a push that passed the rate limit.
// Target fields hold '|' ("<device>|<kind>"), so it cannot collide with one.
const markAdmitted = "admitted"

var (
	// admitScript admits one push of a user under a fixed-window limit: once
	// admitted (the mark is there: a retry, a reclaimed event, a repeated
	// event) it stays admitted without counting again.
	admitScript = redis.NewScript(`
if redis.call('hexists', KEYS[1], ARGV[4]) == 1 then return 1 end
local n = redis.call('incr', KEYS[2])
if n == 1 then redis.call('pexpire', KEYS[2], ARGV[2]) end
if n > tonumber(ARGV[1]) then return 0 end
redis.call('hset', KEYS[1], ARGV[4], '1')
redis.call('pexpire', KEYS[1], ARGV[3])
return 1`)
	// settleScript records a target's outcome and restarts the marks' expiry
	// in one step, so that no mark is left without one.
	settleScript = redis.NewScript(`
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
redis.call('pexpire', KEYS[1], ARGV[3])
return 1`)
)

// PushLedger is the fallback's memory in Redis, per user (hash-tagged with the
// user): which targets of a push were settled, so that a retried event (a
// worker restarted or killed, an XAUTOCLAIM, a repeated event) never notifies a
// target twice, and how many pushes the user was notified of in the current
// window.
type PushLedger struct {
	rdb     redis.UniversalClient
	keys    Keys
	markTTL time.Duration
	limit   int
	window  time.Duration
}

// NewPushLedger returns the ledger: marks live markTTL after their last write;
// limit pushes per user per window are admitted (limit 0: no limit).
func NewPushLedger(rdb redis.UniversalClient, keys Keys, markTTL time.Duration, limit int, window time.Duration) *PushLedger {
	return &PushLedger{rdb: rdb, keys: keys, markTTL: markTTL, limit: limit, window: window}
}

// Admit reports whether the push may be notified under the user's rate limit.
func (l *PushLedger) Admit(ctx context.Context, user, pushID string) (bool, error) {
	if l.limit <= 0 {
		return true, nil
	}
	keys := []string{l.keys.PushMarks(user, pushID), l.keys.PushRate(user)}
	n, err := admitScript.Run(ctx, l.rdb, keys, l.limit, l.window.Milliseconds(), l.markTTL.Milliseconds(), markAdmitted).Int()
	if err != nil {
		return false, fmt.Errorf("streams: push rate of %s: %w", user, err)
	}
	return n == 1, nil
}

// Settled returns the targets ("<device>|<kind>") of the push whose outcome is
// settled, with the outcome Settle recorded.
func (l *PushLedger) Settled(ctx context.Context, user, pushID string) (map[string]string, error) {
	all, err := l.rdb.HGetAll(ctx, l.keys.PushMarks(user, pushID)).Result()
	if err != nil {
		return nil, fmt.Errorf("streams: push marks of %s: %w", user, err)
	}
	delete(all, markAdmitted)
	return all, nil
}

// Settle records outcome ("sent", "gone", "failed") for the push's target.
func (l *PushLedger) Settle(ctx context.Context, user, pushID, target, outcome string) error {
	err := settleScript.Run(ctx, l.rdb, []string{l.keys.PushMarks(user, pushID)}, target, outcome, l.markTTL.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("streams: mark push of %s: %w", user, err)
	}
	return nil
}

// TargetField names a device's target of kind in PushMarks and PushTargets.
func TargetField(device, kind string) string { return targetField(device, kind) }
