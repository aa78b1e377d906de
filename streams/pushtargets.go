package streams

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// DeviceTarget is one registered push target and the device it belongs to.
type DeviceTarget struct {
	Device       string          `json:"device"`
	Target       wire.PushTarget `json:"target"`
	RegisteredAt time.Time       `json:"-"`
}

// storedTarget is a target's value in the user's hash.
type storedTarget struct {
	Target wire.PushTarget `json:"target"`
	AtMs   int64           `json:"at"`
}

// PushTargets stores users' push-notification targets in Redis, one hash per
// user (field "<device>|<kind>"), so a user's targets are read in one call.
// The hash expires ttl after the user's last registration: a device that stops
// registering (app uninstalled, browser data cleared) is forgotten.
type PushTargets struct {
	rdb  redis.UniversalClient
	keys Keys
	ttl  time.Duration
	now  func() time.Time
}

// NewPushTargets returns the store; ttl is how long a user's targets outlive
// their last registration.
func NewPushTargets(rdb redis.UniversalClient, keys Keys, ttl time.Duration) *PushTargets {
	return &PushTargets{rdb: rdb, keys: keys, ttl: ttl, now: time.Now}
}

// targetField is the hash field of device's target of kind. Device ids cannot
// hold '|' (wire.ValidName), so the field splits back unambiguously.
func targetField(device, kind string) string { return device + "|" + kind }

// putTargetScript stores a target and restarts the expiry of the user's hash in
// one step, with commands the node's ACL grants already (a MULTI/EXEC would need
// two more, and a pipeline could leave a hash without expiry).
var putTargetScript = redis.NewScript(`redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
return redis.call('pexpire', KEYS[1], ARGV[3])`)

// Put registers t for user's device, replacing that device's target of the
// same kind, and restarts the expiry of the user's targets.
func (p *PushTargets) Put(ctx context.Context, user, device string, t wire.PushTarget) error {
	v, err := json.Marshal(storedTarget{Target: t, AtMs: p.now().UnixMilli()})
	if err != nil {
		return fmt.Errorf("streams: encode push target: %w", err)
	}
	key := p.keys.PushTargets(user)
	err = putTargetScript.Run(ctx, p.rdb, []string{key}, targetField(device, t.Kind), v, p.ttl.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("streams: store push target of %s: %w", user, err)
	}
	return nil
}

// removeTargetsScript deletes the fields of KEYS[1] whose device is ARGV[1]
// and kind ARGV[2], an empty one matching any, in one step: listing first and
// deleting after would miss a target registered in between.
var removeTargetsScript = redis.NewScript(`
local all = redis.call('hgetall', KEYS[1])
for i = 1, #all, 2 do
  local sep = string.find(all[i], '|', 1, true)
  if sep and (ARGV[1] == '' or string.sub(all[i], 1, sep - 1) == ARGV[1])
     and (ARGV[2] == '' or string.sub(all[i], sep + 1) == ARGV[2]) then
    redis.call('hdel', KEYS[1], all[i])
  end
end
return 0`)

// Remove deletes user's targets of device and kind, an empty one standing for
// any: one target, one device's, one kind's or all of them. Removing what is
// not there is not an error.
func (p *PushTargets) Remove(ctx context.Context, user, device, kind string) error {
	if err := removeTargetsScript.Run(ctx, p.rdb, []string{p.keys.PushTargets(user)}, device, kind).Err(); err != nil {
		return fmt.Errorf("streams: remove push targets of %s: %w", user, err)
	}
	return nil
}

// List returns user's targets, ordered by device then kind. A stored value
// that no longer decodes is skipped: it cannot be sent to anyway.
func (p *PushTargets) List(ctx context.Context, user string) ([]DeviceTarget, error) {
	all, err := p.rdb.HGetAll(ctx, p.keys.PushTargets(user)).Result()
	if err != nil {
		return nil, fmt.Errorf("streams: list push targets of %s: %w", user, err)
	}
	out := make([]DeviceTarget, 0, len(all))
	for field, v := range all {
		device, _, ok := strings.Cut(field, "|")
		var st storedTarget
		if !ok || json.Unmarshal([]byte(v), &st) != nil {
			continue
		}
		out = append(out, DeviceTarget{Device: device, Target: st.Target, RegisteredAt: time.UnixMilli(st.AtMs)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Device != out[j].Device {
			return out[i].Device < out[j].Device
		}
		return out[i].Target.Kind < out[j].Target.Kind
	})
	return out, nil
}
