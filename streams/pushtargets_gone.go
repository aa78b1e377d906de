package streams

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// removeGoneScript deletes a device's target of a kind only while it is still
// the one a platform reported gone: a device that registered a fresh token
// meanwhile keeps it.
var removeGoneScript = redis.NewScript(`
local v = redis.call('hget', KEYS[1], ARGV[1])
if not v then return 0 end
local ok, st = pcall(cjson.decode, v)
if ok and type(st) == 'table' and type(st.target) == 'table' then
  local t = st.target
  if (type(t.token) == 'string' and t.token or '') ~= ARGV[2] then return 0 end
  if (type(t.endpoint) == 'string' and t.endpoint or '') ~= ARGV[3] then return 0 end
end
return redis.call('hdel', KEYS[1], ARGV[1])`)

// RemoveGone deletes user's device's target t, which a platform no longer
// knows, unless the device replaced it since (a stored value that no longer
// decodes goes too). It is not an error when it is not there.
func (p *PushTargets) RemoveGone(ctx context.Context, user, device string, t wire.PushTarget) error {
	err := removeGoneScript.Run(ctx, p.rdb, []string{p.keys.PushTargets(user)},
		targetField(device, t.Kind), t.Token, t.Endpoint).Err()
	if err != nil {
		return fmt.Errorf("streams: remove gone push target of %s: %w", user, err)
	}
	return nil
}
