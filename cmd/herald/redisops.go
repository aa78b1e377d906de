package main

import (
	"context"

	"github.com/herald-push/herald/streams"
)

// wireRedisOps builds the Redis checks and, on a client the node owns, the
// observer of Redis's replies (OOM refusals, vanished consumer streams). The
// embedded store is not checked: it is no Redis an operator runs.
func (n *node) wireRedisOps(opts nodeOptions, keys streams.Keys, sm *streams.Metrics) {
	if n.ownRedis {
		n.rdb.AddHook(streams.NewObserver(keys, n.cfg.Node.ID, n.log, sm))
	}
	if opts.embedded {
		return
	}
	n.check = streams.NewRedisCheck(n.rdb, keys, streams.RedisCheckConfig{
		Node: n.cfg.Node.ID, AllowEviction: n.cfg.Redis.AllowEviction, Every: opts.redisCheckEvery,
	}, n.log, sm)
}

// verifyRedis runs the start checks (version, the commands the user may run, the
// eviction policy) and starts the periodic policy check.
func (n *node) verifyRedis(ctx context.Context) error {
	if n.check == nil {
		return nil
	}
	if err := n.check.Verify(ctx); err != nil {
		return err // run prefixes "herald:"
	}
	n.check.Start()
	return nil
}

// redisMemoryReady is not nil while a Redis master refuses writes for lack of
// memory: pushes cannot be stored, so the node is not ready.
func (n *node) redisMemoryReady(ctx context.Context) error {
	if n.check == nil {
		return nil
	}
	return n.check.MemoryReady(ctx)
}

func (n *node) redisWarnings() []string {
	if n.check == nil {
		return nil
	}
	return n.check.Warnings()
}
