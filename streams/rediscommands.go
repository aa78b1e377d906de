package streams

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"
)

// MinRedisVersion is the oldest Redis a node runs on: XAUTOCLAIM, ZADD … LT and
// XADD/XTRIM MINID came with 6.2.
const MinRedisVersion = "6.2.0"

// RedisCommand is one command a node sends to Redis, named as an ACL rule names it
// ("xinfo|groups" is a subcommand). Commands Herald's Lua scripts call count: Redis
// checks them against the ACL of the user running the script.
type RedisCommand struct {
	Name string
	Use  string
	// ClusterOnly commands are sent by the client library on a Redis Cluster only.
	ClusterOnly bool
	// probe is a form of the command that has no effect: it has the right arity (an
	// arity error would come before the ACL check) and fails, if the ACL lets it
	// through, on an argument or a missing key. A few writes cannot fail that way;
	// they write the probe key, which the last probe deletes.
	probe []string
}

// probeKey stands for the probe key in probe arguments.
const probeKey = "\x00key"

// redisCommands is every command a node sends (go-redis's HELLO needs no grant).
// TestNodeUnderTheDocumentedACL runs a node under exactly these and checks that
// Redis denied it nothing.
var redisCommands = []RedisCommand{
	{Name: "ping", Use: "connection check, /readyz", probe: []string{"ping"}},
	{Name: "info", Use: "version, eviction policy and memory checks (works where CONFIG is disabled)", probe: []string{"info", "server"}},
	{Name: "xadd", Use: "ingress, history, node inboxes, event streams, dead letters", probe: []string{"xadd", probeKey, "maxlen", "x", "*", "f", "v"}},
	{Name: "xreadgroup", Use: "routers and node inboxes", probe: []string{"xreadgroup", "group", "g", "c", "count", "x", "streams", probeKey, ">"}},
	{Name: "xread", Use: "the control stream, read by every node", probe: []string{"xread", "count", "x", "streams", probeKey, "0"}},
	{Name: "xack", Use: "routers and node inboxes", probe: []string{"xack", probeKey, "g", "x"}},
	{Name: "xautoclaim", Use: "reclaiming a dead router's or push worker's entries", probe: []string{"xautoclaim", probeKey, "g", "c", "x", "0"}},
	{Name: "xclaim", Use: "push worker: keeping the events it holds (JUSTID)", probe: []string{"xclaim", probeKey, "g", "c", "x", "0"}},
	{Name: "xpending", Use: "delivery counts, trimming", probe: []string{"xpending", probeKey, "g"}},
	{Name: "xgroup|create", Use: "consumer groups (MKSTREAM)", probe: []string{"xgroup", "create", probeKey, "g", "x", "mkstream"}},
	{Name: "xinfo|groups", Use: "trimming behind every group", probe: []string{"xinfo", "groups", probeKey}},
	{Name: "xtrim", Use: "trimming ingress and inboxes (MINID ~)", probe: []string{"xtrim", probeKey, "minid", "~", "x"}},
	{Name: "xrange", Use: "replay, undelivered events", probe: []string{"xrange", probeKey, "-", "+", "count", "1"}},
	{Name: "xrevrange", Use: "history top", probe: []string{"xrevrange", probeKey, "+", "-", "count", "1"}},
	{Name: "xlen", Use: "resume completeness", probe: []string{"xlen", probeKey}},
	{Name: "pexpire", Use: "history TTL, lease (script)", probe: []string{"pexpire", probeKey, "1"}},
	{Name: "get", Use: "lease (script)", probe: []string{"get", probeKey}},
	{Name: "set", Use: "lease, online marker, reap lock", probe: []string{"set", probeKey, "v", "px", "x"}},
	{Name: "sadd", Use: "presence, node recipient index", probe: []string{"sadd", probeKey, "m"}},
	{Name: "srem", Use: "presence, node recipient index", probe: []string{"srem", probeKey, "m"}},
	{Name: "smembers", Use: "presence read per push", probe: []string{"smembers", probeKey}},
	{Name: "scard", Use: "presence (script)", probe: []string{"scard", probeKey}},
	{Name: "sscan", Use: "reaping a dead node", probe: []string{"sscan", probeKey, "0"}},
	{Name: "hset", Use: "device cursors", probe: []string{"hset", probeKey, "f", "v"}},
	{Name: "hget", Use: "device cursors", probe: []string{"hget", probeKey, "f"}},
	{Name: "hdel", Use: "session counts", probe: []string{"hdel", probeKey, "f"}},
	{Name: "hincrby", Use: "session counts (script)", probe: []string{"hincrby", probeKey, "f", "x"}},
	{Name: "hgetall", Use: "push targets, push marks, device cursors (push worker)", probe: []string{"hgetall", probeKey}},
	{Name: "hexists", Use: "push rate limit (script)", probe: []string{"hexists", probeKey, "f"}},
	{Name: "incr", Use: "push rate limit (script)", probe: []string{"incr", probeKey}},
	{Name: "hvals", Use: "session counts (script)", probe: []string{"hvals", probeKey}},
	{Name: "zadd", Use: "membership, offline events, ack waits (LT)", probe: []string{"zadd", probeKey, "x", "m"}},
	{Name: "zrem", Use: "membership, offline events, ack waits", probe: []string{"zrem", probeKey, "m"}},
	{Name: "zscore", Use: "reaping", probe: []string{"zscore", probeKey, "m"}},
	{Name: "zrange", Use: "ack waits", probe: []string{"zrange", probeKey, "0", "0"}},
	{Name: "zrangebyscore", Use: "dead nodes, due offline events and ack waits", probe: []string{"zrangebyscore", probeKey, "0", "0"}},
	{Name: "zremrangebyscore", Use: "due ack waits (script)", probe: []string{"zremrangebyscore", probeKey, "x", "x"}},
	{Name: "evalsha", Use: "Lua scripts (lease, presence, session limit, ack waits)", probe: []string{"evalsha", strings.Repeat("0", 40), "0"}},
	{Name: "eval", Use: "Lua scripts, when not cached yet", probe: []string{"eval", "return 0", "0"}},
	{Name: "wait", Use: "redis.wait_replicas: replicas' confirmation of the router's and publishes' writes", probe: []string{"wait", "0", "0"}},
	{Name: "del", Use: "leaving, reaping, presence (script); also deletes the probe key", probe: []string{"del", probeKey}},
	{Name: "cluster|slots", Use: "Redis Cluster topology (go-redis)", ClusterOnly: true, probe: []string{"cluster", "slots"}},
	{Name: "command", Use: "Redis Cluster command table (go-redis)", ClusterOnly: true, probe: []string{"command", "count"}},
}

// RedisCommands lists every command a node sends, in the order of the ACL rule.
func RedisCommands() []RedisCommand { return append([]RedisCommand(nil), redisCommands...) }

// ACLRule is the ACL SETUSER command that grants user exactly the commands a node
// sends, on the keys under prefix and no Pub/Sub channel.
func ACLRule(user, password, prefix string) string {
	parts := []string{"ACL", "SETUSER", user, "reset", "on", ">" + password, "~" + prefix + ":*"}
	for _, c := range redisCommands {
		parts = append(parts, "+"+c.Name)
	}
	return strings.Join(parts, " ")
}

// probeResult is what one master answered to the probes.
type probeResult struct {
	denied  []string // commands this user may not run
	keys    bool     // the user may not use the keys under the prefix
	unknown []string // commands this Redis does not have (too old)
}

// probeCommands asks c (one master) whether this user may run every command a node
// sends, without effect: Redis checks the ACL before it parses the arguments, so a
// probe answers NOPERM or fails harmlessly.
func probeCommands(ctx context.Context, c *redis.Client, key string, cluster bool) (probeResult, error) {
	pipe := c.Pipeline()
	var sent []RedisCommand
	var cmds []*redis.Cmd
	for _, rc := range redisCommands {
		if rc.ClusterOnly && !cluster {
			continue
		}
		args := make([]any, len(rc.probe))
		for i, a := range rc.probe {
			if a == probeKey {
				a = key
			}
			args[i] = a
		}
		sent = append(sent, rc)
		cmds = append(cmds, pipe.Do(ctx, args...))
	}
	_, _ = pipe.Exec(ctx) // replies are read one by one
	var res probeResult
	for i, cmd := range cmds {
		err := cmd.Err()
		switch {
		case err == nil || err == redis.Nil:
		case redis.HasErrorPrefix(err, "NOPERM"):
			if strings.Contains(err.Error(), "keys") {
				res.keys = true
			} else {
				res.denied = append(res.denied, sent[i].Name)
			}
		case strings.HasPrefix(err.Error(), "ERR unknown command") || strings.HasPrefix(err.Error(), "ERR unknown subcommand"):
			res.unknown = append(res.unknown, sent[i].Name)
		case !isRedisReply(err):
			return res, fmt.Errorf("streams: check redis commands on %s: %w", c.Options().Addr, err)
		}
	}
	sort.Strings(res.denied)
	return res, nil
}

// isRedisReply tells an error Redis answered from one of the connection.
func isRedisReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}
