package streams

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterReloadInterval bounds how long a ClusterClient keeps a slot map that
// no error contradicted (a replica added, a manual failover whose old master
// still answers MOVED anyway). go-redis's default is 60 s.
const clusterReloadInterval = 5 * time.Second

// newClusterClient is the Redis Cluster client, set up to follow a master
// failover (ARCHITECTURE.md "Redis Cluster: following a failover").
//
// go-redis reloads a ClusterClient's slot map only on a MOVED or ASK reply, or
// when the map is older than ClusterStateReloadInterval. A master killed with -9
// answers nothing, so neither comes: its slots kept going to its dead address,
// dial after dial, until the minute was up, though its replica had been
// promoted seconds after the kill. So every node client reports a failed
// connection (reloadOnFailure), the map is never older than
// clusterReloadInterval, and a dial to a dead node is tried once (the cluster
// client retries the command itself, MaxRedirects times, and each of its
// attempts gets a map the reload may have fixed).
func newClusterClient(opts *redis.UniversalOptions) *redis.ClusterClient {
	co := opts.Cluster()
	co.ClusterStateReloadInterval = clusterReloadInterval
	// go-redis's cluster default: no retries on the node client, whose retries
	// would all go to the same dead address; the cluster client retries instead.
	co.MaxRetries = -1
	co.DialerRetries = 1
	cc := redis.NewClusterClient(co)
	// Before the first command: the hook goes on node clients as they are made.
	cc.OnNewNode(func(n *redis.Client) { n.AddHook(reloadOnFailure{cc: cc}) })
	return cc
}

// reloadOnFailure asks the cluster client for a new slot map (a single reload
// at a time, at most five a second: go-redis coalesces them) whenever a
// command or pipeline on a node fails for want of a connection, or the node
// says the cluster is down or the slot moved.
type reloadOnFailure struct{ cc *redis.ClusterClient }

func (h reloadOnFailure) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h reloadOnFailure) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.check(err)
		return err
	}
}

func (h reloadOnFailure) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.check(err)
		return err
	}
}

func (h reloadOnFailure) check(err error) {
	if needsReload(err) {
		h.cc.ReloadState(context.Background())
	}
}

// needsReload: err says the node may no longer be where the slot map puts it
// (no connection, a broken one, no answer in time, a MOVED to a node client
// used directly, which does not follow it) or that the cluster is down (a
// failover under way). Not a reply about the command, not the caller's own
// cancellation, not a closed client. A deadline that expired counts: a caller
// whose context ran out while go-redis was still dialing a dead master gets
// only that, and it must reload too.
func needsReload(err error) bool {
	if err == nil || errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.Nil) {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) { // dial refused or timed out, connection reset
		return true
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		return redis.HasErrorPrefix(err, "CLUSTERDOWN") || redis.HasErrorPrefix(err, "MOVED")
	}
	return true // EOF, deadline, pool timeout, read timeout
}
