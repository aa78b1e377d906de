package streams

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/streams/redisserver"
)

// Redis 7 allocates min(stream-node-max-bytes, 4096) bytes for every new listpack
// node of a stream (STREAM_LISTPACK_MAX_PRE_ALLOCATE in t_stream.c), so a history
// stream with one push costs a whole node. With many recipients holding a few
// pushes each, that floor is most of Herald's Redis memory; docs/OPERATIONS.md
// recommends a smaller node. A node reads the setting at start where Redis lets it
// and says once what the default costs.

const (
	// streamPreallocMax is the most Redis preallocates for a stream node.
	streamPreallocMax = 4096
	// streamOverheadBytes is what a recipient's history stream costs besides its
	// first node: the key, its TTL, the stream and its radix tree. Measured with
	// Redis 7.0.15 (herald bench redis-memory: one entry of a 100-byte payload
	// costs 305 B more than the node under every value from 256 to 4096).
	streamOverheadBytes = 305
)

// HistoryFloorBytes is the least memory one recipient's history stream takes in
// Redis 7 under stream-node-max-bytes v (0: no byte limit).
func HistoryFloorBytes(v int64) int64 {
	node := int64(streamPreallocMax)
	if v > 0 && v < node {
		node = v
	}
	return node + streamOverheadBytes
}

// nodeSetting is one master's stream-node-max-bytes.
type nodeSetting struct {
	addr  string
	bytes int64
}

// readStreamNodeBytes reads m's stream-node-max-bytes where that is allowed and
// means something; ok is false otherwise, and nothing is reported.
//
// Not read: before Redis 7 (no preallocation, so no floor to warn of); as a named
// ACL user (the documented rule grants no CONFIG, which would also show secrets
// such as masterauth, and a refused command lands in ACL LOG); where Redis refuses
// CONFIG (managed services rename or disable it).
func readStreamNodeBytes(ctx context.Context, m *redis.Client, version string) (int64, bool) {
	if m.Options().Username != "" || !versionAtLeast(version, "7.0.0") {
		return 0, false
	}
	cfg, err := m.ConfigGet(ctx, "stream-node-max-bytes").Result()
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(cfg["stream-node-max-bytes"], 10, 64)
	return v, err == nil
}

// logStreamNodes says once, for every master whose streams get the full 4 KB
// node (the default, or no byte limit), what each recipient's history costs
// and what the recommended value would cost.
func (c *RedisCheck) logStreamNodes(found []nodeSetting) {
	var addrs []string
	var v int64
	for _, f := range found {
		if f.bytes == 0 || f.bytes >= streamPreallocMax {
			addrs, v = append(addrs, f.addr), f.bytes
		}
	}
	if len(addrs) == 0 {
		return
	}
	sort.Strings(addrs)
	rec := int64(redisserver.RecommendedStreamNodeMaxBytes)
	what := "keeps the default stream-node-max-bytes"
	if v != 4096 {
		what = "has stream-node-max-bytes " + strconv.FormatInt(v, 10)
	}
	c.log.Info("redis "+what+": every recipient's history stream takes at least "+
		strconv.FormatInt(HistoryFloorBytes(v), 10)+" B, a whole listpack node even for one push; "+
		strconv.FormatInt(rec, 10)+" would take about "+strconv.FormatInt(HistoryFloorBytes(rec), 10)+
		" B (docs/OPERATIONS.md, \"Redis requirements\")",
		"redis", strings.Join(addrs, ","), "stream_node_max_bytes", v,
		"history_bytes_per_recipient", HistoryFloorBytes(v), "recommended", rec)
}
