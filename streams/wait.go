package streams

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotReplicated: Redis took the writes but fewer replicas than
// redis.wait_replicas confirmed them within redis.wait_timeout. A failover now
// could lose them, so nothing that depends on them is acknowledged.
var ErrNotReplicated = errors.New("streams: writes not confirmed by enough replicas")

// replicaWait is redis.wait_replicas and redis.wait_timeout.
type replicaWait struct {
	n       int // 0: no WAIT
	timeout time.Duration
	// cluster is set on Redis Cluster, where a pipeline spreads over the masters
	// on connections go-redis picks: WAIT goes to each master after the pipeline
	// (confirmPerMaster) instead of riding in it.
	cluster *redis.ClusterClient
}

// newReplicaWait returns the wait for n replicas on rdb's topology.
func newReplicaWait(rdb redis.UniversalClient, n int, timeout time.Duration) replicaWait {
	w := replicaWait{n: n, timeout: timeout}
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		w.cluster = cc
	}
	return w
}

// pendingWait is the WAIT of one pipeline: in it (standalone, Sentinel) or to
// send after it, one per master (Redis Cluster).
type pendingWait struct {
	cmd     *redis.Cmd
	markers map[string]masterMarker // by master address
	unknown error                   // a key whose master the client could not tell
}

// masterMarker is a marker key on one master, and that master's client.
type masterMarker struct {
	node *redis.Client
	key  string
}

// queue prepares the WAIT of pipe, after every write queued on it. WAIT counts
// the replicas that have every write this connection sent before it, and a
// standalone or Sentinel client sends one pipeline on one connection, so a WAIT
// at the end of the pipeline covers exactly its writes (and older ones of the
// connection). Writes of an earlier pipeline may have gone on another pooled
// connection: each pipeline carries its own WAIT (ARCHITECTURE.md "WAIT for
// replicas"). On Redis Cluster queue notes the masters the writes go to, for done.
// nil when wait_replicas is 0.
//
// The pipeline's read deadline is the client's ReadTimeout, which Connect sets
// above wait_timeout.
func (w replicaWait) queue(ctx context.Context, pipe redis.Pipeliner) *pendingWait {
	if w.n <= 0 {
		return nil
	}
	if w.cluster != nil {
		markers, err := w.markersByMaster(ctx, pipe.Cmds())
		return &pendingWait{markers: markers, unknown: err}
	}
	return &pendingWait{cmd: pipe.Do(ctx, "wait", w.n, w.timeout.Milliseconds())}
}

// done checks, once the pipeline ran, that its writes are on enough replicas:
// nil when they are (or wait_replicas is 0), an error wrapping ErrNotReplicated
// when too few confirmed in time.
func (w replicaWait) done(ctx context.Context, pw *pendingWait) error {
	switch {
	case pw == nil:
		return nil
	case pw.unknown != nil:
		return pw.unknown
	case pw.markers != nil:
		return w.confirmPerMaster(ctx, pw.markers)
	}
	return w.check(pw.cmd)
}

// check reads one WAIT's reply.
func (w replicaWait) check(c *redis.Cmd) error {
	n, err := c.Int64()
	if err != nil {
		return fmt.Errorf("streams: wait for %d replicas: %w", w.n, err)
	}
	if n < int64(w.n) {
		return fmt.Errorf("streams: wait for %d replicas: %d confirmed within %v: %w", w.n, n, w.timeout, ErrNotReplicated)
	}
	return nil
}

// confirmPerMaster WAITs on every master that took a command of the pipeline.
// WAIT counts the writes of its own connection, and the pipeline's writes went
// on connections go-redis chose; but a master replicates in one ordered stream,
// so a write sent after them on the WAIT's connection (a marker key in the same
// slot as one of them, hence on the same master) makes WAIT cover them all. The
// masters are asked in parallel: one more round trip per pipeline, not one per
// master.
func (w replicaWait) confirmPerMaster(ctx context.Context, markers map[string]masterMarker) error {
	errs := make([]error, 0, len(markers))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for addr, m := range markers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.onMaster(ctx, addr, m); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// markersByMaster picks, for each master behind cmds' keys, one marker key that
// lives on it. A key whose master the client cannot tell (no slot map yet) makes
// the whole round trip unconfirmed.
func (w replicaWait) markersByMaster(ctx context.Context, cmds []redis.Cmder) (map[string]masterMarker, error) {
	markers := make(map[string]masterMarker)
	seen := make(map[string]bool)
	for _, c := range cmds {
		key, ok := commandKey(c)
		if !ok {
			continue
		}
		marker := waitMarker(key)
		if seen[marker] {
			continue
		}
		seen[marker] = true
		node, err := w.cluster.MasterForKey(ctx, marker)
		if err != nil {
			return nil, fmt.Errorf("streams: wait for %d replicas: master of %s: %v: %w", w.n, key, err, ErrNotReplicated)
		}
		if addr := node.Options().Addr; markers[addr].node == nil {
			markers[addr] = masterMarker{node: node, key: marker}
		}
	}
	return markers, nil
}

// onMaster writes the marker and WAITs on one connection of the master the
// writes went to. If the slot has another master now (a failover between the
// pipeline and this WAIT), the writes may have been on the old one: a WAIT on
// the new one would confirm nothing about them, so they count as unconfirmed.
func (w replicaWait) onMaster(ctx context.Context, addr string, m masterMarker) error {
	now, err := w.cluster.MasterForKey(ctx, m.key)
	if err != nil || now.Options().Addr != addr {
		return fmt.Errorf("streams: wait for %d replicas: the master of %s changed: %w", w.n, m.key, ErrNotReplicated)
	}
	pipe := m.node.Pipeline()
	pipe.Set(ctx, m.key, "1", markerTTL)
	c := pipe.Do(ctx, "wait", w.n, w.timeout.Milliseconds())
	if _, err := pipe.Exec(ctx); err != nil {
		// MOVED after a failover: the cached topology is stale. The caller
		// retries the round trip; the client reloads meanwhile.
		w.cluster.ReloadState(ctx)
		return fmt.Errorf("streams: wait for %d replicas on %s: %w", w.n, addr, err)
	}
	return w.check(c)
}

// markerTTL keeps the marker keys few: one per hash tag a round trip used first
// on its master in the last minute.
const markerTTL = time.Minute

// waitMarker is a key in the same Redis Cluster slot as key, under the same
// prefix (so the ACL rule's key pattern covers it): the hash tag is kept, or made
// of the whole key when it has none.
func waitMarker(key string) string {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			return key[:open+1+end+1] + ":waitmark"
		}
	}
	return key + ":{" + key + "}:waitmark"
}

// commandKey is the first key of a command Herald sends, if it has one. Commands
// read from Redis count too: they only add a WAIT on a master that may have had
// nothing to replicate. XREADGROUP's keys follow STREAMS; it changes only the
// group's pending list, whose loss in a failover means a redelivery, not a loss.
func commandKey(c redis.Cmder) (string, bool) {
	args := c.Args()
	switch c.Name() {
	case "wait", "ping", "info", "cluster", "command", "xreadgroup", "xread":
		return "", false
	case "eval", "evalsha", "eval_ro", "evalsha_ro":
		if len(args) < 4 || fmt.Sprint(args[2]) == "0" {
			return "", false
		}
		return argString(args[3])
	}
	if len(args) < 2 {
		return "", false
	}
	return argString(args[1])
}

func argString(a any) (string, bool) {
	switch v := a.(type) {
	case string:
		return v, true
	case []byte:
		return string(v), true
	case int:
		return strconv.Itoa(v), true
	}
	return "", false
}
