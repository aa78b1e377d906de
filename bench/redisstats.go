package bench

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// The Redis side of a Herald delivery run: its version and setting, the CPU and
// commands of the measured phase, and the memory a recipient's history stream,
// a history entry, an ingress entry and a presence set take.

// historySample is MEMORY USAGE of a sample of history streams after the warm-up.
type historySample struct {
	keys     []string
	presence []string
	bytes    float64 // mean
	entries  float64 // mean
	presB    float64
}

// sampleHistory measures the history streams and presence sets of about 200 of
// the clients' users.
func (r *runner) sampleHistory(ctx context.Context, e *env, clients int) historySample {
	var h historySample
	step := max(1, clients/200)
	for i := 0; i < clients; i += step {
		u := userName("u", i)
		h.keys = append(h.keys, e.keys.History(wire.User(u)))
		h.presence = append(h.presence, e.keys.Presence(wire.User(u)))
	}
	h.bytes, h.entries = memUsage(ctx, e, h.keys)
	h.presB, _ = memUsage(ctx, e, h.presence)
	return h
}

// memUsage is the mean MEMORY USAGE (exact) and, for streams, the mean XLEN of keys.
func memUsage(ctx context.Context, e *env, keys []string) (bytes, entries float64) {
	if len(keys) == 0 {
		return 0, 0
	}
	pipe := e.rdb.Pipeline()
	mems := make([]*redis.IntCmd, len(keys))
	lens := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		mems[i] = pipe.MemoryUsage(ctx, k, 0)
		if strings.HasSuffix(k, ":h") {
			lens[i] = pipe.XLen(ctx, k)
		}
	}
	_, _ = pipe.Exec(ctx)
	n := 0
	for i := range keys {
		if mems[i].Val() <= 0 {
			continue
		}
		n++
		bytes += float64(mems[i].Val())
		if lens[i] != nil {
			entries += float64(lens[i].Val())
		}
	}
	if n == 0 {
		return 0, 0
	}
	return bytes / float64(n), entries / float64(n)
}

// redisStats is Redis's side of the run, its memory figures from the history
// sample taken after the warm-up and the same streams at the end.
func (r *runner) redisStats(ctx context.Context, e *env, h historySample, before, after usage) *RedisStats {
	s := &RedisStats{Addr: e.redisURL, UsedMemoryStart: before.redisMem, UsedMemoryEnd: after.redisMem}
	s.Commands = commandDelta(before.redisCmds, after.redisCmds)
	if kv, err := redisInfo(ctx, e.rdb, "server"); err == nil {
		s.Version = kv["redis_version"]
	}
	s.StreamNodeMaxBytes, _ = configStreamNodeMaxBytes(ctx, e.rdb) // plan sizes memory under it
	if !math.IsNaN(before.redisCPU) && !math.IsNaN(after.redisCPU) {
		s.CPUSeconds = after.redisCPU - before.redisCPU
	}
	if len(h.keys) > 0 {
		endB, endL := memUsage(ctx, e, h.keys)
		s.HistorySampled = len(h.keys)
		s.PerRecipientBytes = h.bytes
		s.PresenceBytes = h.presB
		if endL > h.entries {
			s.PerEntryBytes = (endB - h.bytes) / (endL - h.entries)
		}
		s.MemoryMethodComment = fmt.Sprintf("MEMORY USAGE (exact) of %d history streams: %.1f entries on average after the warm-up (%.0f B), %.1f at the end (%.0f B); presence set %.0f B per connected user",
			len(h.keys), h.entries, h.bytes, endL, endB, h.presB)
	}
	in := e.keys.Ingress(0)
	if l, err := e.rdb.XLen(ctx, in).Result(); err == nil && l > 0 {
		if m, err := e.rdb.MemoryUsage(ctx, in, 0).Result(); err == nil {
			s.IngressEntryBytes = float64(m) / float64(l)
		}
	}
	return s
}

// probeFullHistory fills one recipient's history with unmeasured messages after the
// run (the first user's; its client ignores them) and measures the stream once the
// router has appended them: the per-entry cost of a long history, which short runs
// cannot show (Redis preallocates 4 KB listpack nodes, so the first ~20 entries
// cost nothing more).
func (r *runner) probeFullHistory(ctx context.Context, e *env, rs *redisSource, s *RedisStats) {
	const probe = 1500
	key := e.keys.History(wire.User(rs.users[0]))
	for n := int64(0); n < probe; n += 500 {
		rs.sendTo(ctx, 0, 500)
	}
	last, ok := waitStreamSettled(ctx, e.rdb, key, 15*time.Second)
	if !ok {
		return
	}
	m, err := e.rdb.MemoryUsage(ctx, key, 0).Result()
	if err != nil || last < 100 {
		return
	}
	s.HistoryProbeEntries, s.HistoryProbeBytes = last, float64(m)
	s.PerEntryBytes = (float64(m) - s.PerRecipientBytes) / float64(last-1)
	s.MemoryMethodComment += fmt.Sprintf("; one history filled to %d entries: %.0f B, so %.0f B per further entry", last, float64(m), s.PerEntryBytes)
}

// waitStreamSettled polls XLEN of key until it has not changed for 500 ms, or
// until timeout; it returns the last length, and false when XLEN failed.
func waitStreamSettled(ctx context.Context, rdb redis.UniversalClient, key string, timeout time.Duration) (int64, bool) {
	last, since := int64(-1), time.Now()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		l, err := rdb.XLen(ctx, key).Result()
		if err != nil {
			return last, false
		}
		if l != last {
			last, since = l, time.Now()
		} else if time.Since(since) > 500*time.Millisecond {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return last, true
}
