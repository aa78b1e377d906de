package streams

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Queries answers the server API's reads from what Redis holds: session details,
// topic subscriber counts and node session counts, all written by the nodes.
type Queries struct {
	rdb     redis.UniversalClient
	keys    Keys
	nodeTTL time.Duration // a node silent this long is left out of the stats
	metrics *Metrics
}

// NewQueries returns the server API's reader.
func NewQueries(rdb redis.UniversalClient, keys Keys, nodeTTL time.Duration, m *Metrics) *Queries {
	return &Queries{rdb: rdb, keys: keys, nodeTTL: nodeTTL, metrics: m}
}

// Sessions lists user's open sessions in the cluster, oldest first.
func (q *Queries) Sessions(ctx context.Context, user string) ([]SessionDetail, error) {
	all, err := q.rdb.HGetAll(ctx, q.keys.SessionDetails(user)).Result()
	if err != nil {
		return nil, q.failed("presence", err)
	}
	out := make([]SessionDetail, 0, len(all))
	for id, v := range all {
		if d, ok := parseSessionDetail(id, v); ok {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since < out[j].Since })
	return out, nil
}

// Devices returns, for each of users, the devices of its open sessions; a user
// with sessions but none on a named device maps to an empty list, an offline
// user is absent. One pipeline (one per slot owner on a Redis Cluster).
func (q *Queries) Devices(ctx context.Context, users []string) (map[string][]string, error) {
	cmds := make([]*redis.StringSliceCmd, len(users))
	_, err := q.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, u := range users {
			cmds[i] = pipe.HVals(ctx, q.keys.SessionDetails(u))
		}
		return nil
	})
	if err != nil {
		return nil, q.failed("presence", err)
	}
	out := make(map[string][]string)
	for i, u := range users {
		if vals := cmds[i].Val(); len(vals) > 0 {
			out[u] = devicesOf(vals)
		}
	}
	return out, nil
}

// devicesOf lists the distinct named devices of SessionDetails values, sorted.
func devicesOf(vals []string) []string {
	seen := make(map[string]bool, len(vals))
	devices := []string{}
	for _, v := range vals {
		if d, ok := parseSessionDetail("", v); ok && d.Device != "" && !seen[d.Device] {
			seen[d.Device] = true
			devices = append(devices, d.Device)
		}
	}
	sort.Strings(devices)
	return devices
}

// Stats is the cluster's session count, in total and per live node.
type Stats struct {
	Sessions int64                `json:"sessions"`
	Nodes    map[string]NodeStats `json:"nodes"`
}

// NodeStats is one node's share.
type NodeStats struct {
	Sessions int64 `json:"sessions"`
}

// Stats reads the session counts the live nodes published with their heartbeats.
func (q *Queries) Stats(ctx context.Context) (Stats, error) {
	var nodes *redis.StringSliceCmd
	var counts *redis.MapStringStringCmd
	_, err := q.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		alive := strconv.FormatInt(time.Now().Add(-q.nodeTTL).UnixMilli(), 10)
		nodes = pipe.ZRangeByScore(ctx, q.keys.Nodes(), &redis.ZRangeBy{Min: alive, Max: "+inf"})
		counts = pipe.HGetAll(ctx, q.keys.NodeSessions())
		return nil
	})
	if err != nil {
		return Stats{}, q.failed("stats", err)
	}
	st := Stats{Nodes: make(map[string]NodeStats)}
	for _, n := range nodes.Val() {
		c, _ := strconv.ParseInt(counts.Val()[n], 10, 64)
		st.Nodes[n] = NodeStats{Sessions: c}
		st.Sessions += c
	}
	return st, nil
}

// Subscribers is topic's subscriber count, summed over the nodes.
func (q *Queries) Subscribers(ctx context.Context, topic string) (int64, error) {
	vals, err := q.rdb.HVals(ctx, q.keys.Subscribers(topic)).Result()
	if err != nil {
		return 0, q.failed("topics", err)
	}
	var n int64
	for _, v := range vals {
		c, _ := strconv.ParseInt(v, 10, 64)
		n += c
	}
	return n, nil
}

func (q *Queries) failed(op string, err error) error {
	q.metrics.RedisErrors.WithLabelValues("api_" + op).Inc()
	return fmt.Errorf("streams: %s query: %w", op, err)
}
