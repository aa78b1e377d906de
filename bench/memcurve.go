package bench

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

// The redis-memory scenario measures, without Herald nodes, what one recipient's
// history stream costs Redis, written the way Herald's router writes it: XADD with
// the fields id, data and ts, exact MAXLEN history.size, a PEXPIRE on the first
// append. It measures used_memory (INFO memory) before and after filling many
// streams, so the figure includes everything a recipient adds: the key, its TTL,
// the stream, its radix tree and listpack nodes.

// curvePrefix keeps the scenario's keys apart from a Herald's on an existing Redis.
const curvePrefix = "herald-bench-mem"

// curveKeyPrefix is Herald's own prefix on the bench's Redis, which is emptied
// before each value: key names as long as Herald's cost what Herald's cost.
func (r *runner) curveKeyPrefix() string {
	if r.cfg.Redis != "" {
		return curvePrefix
	}
	return r.cfg.Prefix
}

// curveBatch is how many commands one pipeline carries.
const curveBatch = 500

// memRun is one stream-node-max-bytes value being measured, on its own Redis.
type memRun struct {
	rdb     *redis.Client
	own     *redisProc // nil: --redis
	value   int64
	recips  []string // the curve's streams
	full    []string // full histories
	keys    streams.Keys
	payload int
	size    int
	seq     int64 // entries written, for distinct ids and payloads
	buf     []byte
}

func (r *runner) redisMemoryScenario(ctx context.Context, dirOf func(string) string) *ScenarioResult {
	n := r.cfg.CurveRecipients
	sr := r.newResult("redis-memory", "redis-memory", Params{Server: "redis", Mode: "memory", Clients: n, PayloadB: r.cfg.Payload,
		External: r.cfg.Redis != ""})
	err := r.measureCurve(ctx, sr, dirOf("redis-memory"))
	return r.finish(sr, err)
}

func (r *runner) measureCurve(ctx context.Context, sr *ScenarioResult, dir string) error {
	c := &NodeCurve{PayloadBytes: r.cfg.Payload, HistorySize: r.cfg.HistorySize}
	sr.Curve = c
	var runs []*memRun
	defer func() {
		for _, m := range runs {
			m.stop()
		}
	}()
	values := r.cfg.NodeValues
	if r.cfg.Redis != "" {
		values = values[:1] // an existing Redis is measured as it is configured
	}
	for i, v := range values {
		m, err := r.openMemRun(ctx, filepath.Join(dir, fmt.Sprintf("redis-%d", i)), c, v)
		if err != nil {
			return err
		}
		runs = append(runs, m)
		r.logf("redis-memory: stream-node-max-bytes %d: memory", m.value)
		if err := m.measureMemory(ctx, c, r.cfg.CurveRecipients, r.cfg.CurveEntries); err != nil {
			return err
		}
		addCurveFigures(sr, c, m.value)
	}
	r.logf("redis-memory: CPU, %d runs", r.cfg.CPURuns)
	cpu, err := cpuRuns(ctx, runs, r.cfg.CPURuns)
	if err != nil {
		return err
	}
	c.CPU = cpu
	c.Method = fmt.Sprintf("per value, its own redis-server: %d history streams filled in rounds of one XADD each (fields id, data of %d bytes, ts; exact MAXLEN %d; PEXPIRE on the first), "+
		"used_memory (INFO memory) read after each round, divided by the streams; the history.size point from streams that received 1.5 x history.size "+
		"entries (trimmed at every append); CPU from INFO commandstats and INFO cpu, %d runs of each command, the values taken in turn within each run",
		r.cfg.CurveRecipients, r.cfg.Payload, r.cfg.HistorySize, r.cfg.CPURuns)
	if r.cfg.Redis != "" {
		sr.note("an existing Redis: measured at its own stream-node-max-bytes only (the bench does not change the configuration of a Redis it did not start); other clients' writes would show in used_memory")
	}
	return nil
}

// openMemRun connects to the Redis that measures value v: one the bench starts
// with that value, or --redis as it is configured.
func (r *runner) openMemRun(ctx context.Context, dir string, c *NodeCurve, v int64) (*memRun, error) {
	addr := r.cfg.Redis
	var own *redisProc
	if addr == "" {
		rp, err := startRedis(dir, r.cfg.RedisArgs)
		if err != nil {
			return nil, err
		}
		own, addr = rp, rp.Addr
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 4, ReadTimeout: time.Minute, WriteTimeout: time.Minute})
	m := &memRun{rdb: rdb, own: own, value: v, keys: streams.NewKeys(r.curveKeyPrefix(), 1), payload: r.cfg.Payload, size: r.cfg.HistorySize}
	if err := m.configure(ctx, c); err != nil {
		m.stop()
		return nil, err
	}
	return m, nil
}

// configure records the Redis's version and own setting on the first Redis, and
// sets value v on a Redis the bench started.
func (m *memRun) configure(ctx context.Context, c *NodeCurve) error {
	if err := m.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("bench: redis %s: %w", m.rdb.Options().Addr, err)
	}
	configured, _ := configStreamNodeMaxBytes(ctx, m.rdb)
	if c.RedisVersion == "" {
		if kv, err := redisInfo(ctx, m.rdb, "server"); err == nil {
			c.RedisVersion = kv["redis_version"]
		}
		c.Configured = configured
	}
	if m.own == nil {
		if configured == 0 {
			return errors.New("bench: the existing Redis refuses CONFIG GET: its stream-node-max-bytes cannot be told, so its curve would have no value to plan with")
		}
		m.value = configured
		return nil
	}
	if err := m.rdb.ConfigSet(ctx, "stream-node-max-bytes", strconv.FormatInt(m.value, 10)).Err(); err != nil {
		return fmt.Errorf("bench: config set stream-node-max-bytes %d: %w", m.value, err)
	}
	return nil
}

// stop deletes the scenario's keys from an existing Redis, or stops the bench's.
func (m *memRun) stop() {
	if m.own == nil && len(m.recips) > 0 {
		_ = m.unlink(context.Background(), append(m.recips, m.full...))
	}
	_ = m.rdb.Close()
	m.own.Kill()
}

// configStreamNodeMaxBytes reads stream-node-max-bytes with CONFIG GET; ok is false
// where Redis refuses CONFIG (managed services, ACL users without it).
func configStreamNodeMaxBytes(ctx context.Context, rdb redis.UniversalClient) (int64, bool) {
	m, err := rdb.ConfigGet(ctx, "stream-node-max-bytes").Result()
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(m["stream-node-max-bytes"], 10, 64)
	return v, err == nil
}

// measureMemory fills the curve's streams and the full histories and adds their
// points to c.
func (m *memRun) measureMemory(ctx context.Context, c *NodeCurve, recipients int, entries []int) error {
	m.recips = m.names("r", recipients)
	points, err := m.growCurve(ctx, m.value, m.recips, entries)
	if err != nil {
		return err
	}
	m.full = m.names("f", fullRecipients(recipients, m.size))
	fp, err := m.fullPoint(ctx, m.value, m.full)
	if err != nil {
		return err
	}
	c.Points = append(c.Points, append(points, fp)...)
	return nil
}

// fullRecipients keeps the history.size point to about 750,000 appends: the
// figure is deterministic, and a few hundred full streams measure it as well as
// ten thousand.
func fullRecipients(n, size int) int {
	return max(100, min(n, 500_000/max(size, 1)))
}

// names are the history keys of n recipients.
func (m *memRun) names(kind string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = m.keys.History(wire.User(userName(kind, i)))
	}
	return out
}

// growCurve appends to every key in rounds until each holds the next entry count
// of entries, reading used_memory at each.
func (m *memRun) growCurve(ctx context.Context, v int64, keys []string, entries []int) ([]CurvePoint, error) {
	base, err := usedMemory(ctx, m.rdb)
	if err != nil {
		return nil, err
	}
	var out []CurvePoint
	have := 0
	for _, k := range entries {
		for ; have < k; have++ {
			if err := m.appendRound(ctx, keys, have == 0); err != nil {
				return nil, err
			}
		}
		used, err := usedMemory(ctx, m.rdb)
		if err != nil {
			return nil, err
		}
		out = append(out, CurvePoint{NodeMaxBytes: v, Entries: k, Recipients: len(keys), BytesPerRecipient: (used - base) / float64(len(keys))})
	}
	return out, nil
}

// fullPoint fills keys past history.size (key i gets 1.5 x size + i%100 entries,
// so that the trimmed head nodes are at every stage of being emptied) and
// measures them.
func (m *memRun) fullPoint(ctx context.Context, v int64, keys []string) (CurvePoint, error) {
	base, err := usedMemory(ctx, m.rdb)
	if err != nil {
		return CurvePoint{}, err
	}
	pipe := m.rdb.Pipeline()
	for i, key := range keys {
		for e := 0; e < m.size+m.size/2+i%100; e++ {
			pipe.Do(ctx, m.xadd(key)...)
			if e == 0 {
				pipe.PExpire(ctx, key, 24*time.Hour)
			}
			if pipe.Len() >= curveBatch {
				if err := execAll(ctx, pipe); err != nil {
					return CurvePoint{}, err
				}
			}
		}
	}
	if err := execAll(ctx, pipe); err != nil {
		return CurvePoint{}, err
	}
	used, err := usedMemory(ctx, m.rdb)
	if err != nil {
		return CurvePoint{}, err
	}
	return CurvePoint{NodeMaxBytes: v, Entries: m.size, Recipients: len(keys), BytesPerRecipient: (used - base) / float64(len(keys)), Full: true}, nil
}

// appendRound appends one entry to every key, with its TTL on the first as the
// router sets it.
func (m *memRun) appendRound(ctx context.Context, keys []string, first bool) error {
	pipe := m.rdb.Pipeline()
	for _, key := range keys {
		pipe.Do(ctx, m.xadd(key)...)
		if first {
			pipe.PExpire(ctx, key, 24*time.Hour)
		}
		if pipe.Len() >= curveBatch {
			if err := execAll(ctx, pipe); err != nil {
				return err
			}
		}
	}
	return execAll(ctx, pipe)
}

// xadd is the router's history append (streams.partitionLoop.historyArgs): the
// fields id (an ingress entry id, the default message id), data and ts.
func (m *memRun) xadd(key string) []any {
	m.seq++
	now := time.Now().UnixMilli()
	m.buf = appendPayload(m.buf[:0], m.seq, now*1e6, false, m.payload)
	id := strconv.FormatInt(now, 10) + "-" + strconv.FormatInt(m.seq%1000, 10)
	return []any{"xadd", key, "maxlen", m.size, "*", "id", id, "data", string(m.buf), "ts", now}
}

// execAll sends the pipeline and returns its first error.
func execAll(ctx context.Context, pipe redis.Pipeliner) error {
	if pipe.Len() == 0 {
		return nil
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil {
		for _, c := range cmds {
			if c.Err() != nil && !errors.Is(c.Err(), redis.Nil) {
				return fmt.Errorf("bench: %s: %w", c.Name(), c.Err())
			}
		}
		if !errors.Is(err, redis.Nil) {
			return fmt.Errorf("bench: pipeline: %w", err)
		}
	}
	return nil
}

// usedMemory is INFO memory used_memory.
func usedMemory(ctx context.Context, rdb redis.UniversalClient) (float64, error) {
	kv, err := redisInfo(ctx, rdb, "memory")
	if err != nil {
		return 0, fmt.Errorf("bench: info memory: %w", err)
	}
	v, err := strconv.ParseFloat(kv["used_memory"], 64)
	if err != nil {
		return 0, fmt.Errorf("bench: used_memory %q: %w", kv["used_memory"], err)
	}
	return v, nil
}

// unlink deletes the scenario's keys from an existing Redis.
func (m *memRun) unlink(ctx context.Context, keys []string) error {
	pipe := m.rdb.Pipeline()
	for _, k := range keys {
		pipe.Unlink(ctx, k)
		if pipe.Len() >= curveBatch {
			if err := execAll(ctx, pipe); err != nil {
				return err
			}
		}
	}
	return execAll(ctx, pipe)
}

// addCurveFigures adds the headline figures of value v: a recipient with 1, 10
// and history.size entries.
func addCurveFigures(sr *ScenarioResult, c *NodeCurve, v int64) {
	for _, p := range c.row(v) {
		if p.Entries != 1 && p.Entries != 10 && !p.Full {
			continue
		}
		what := fmt.Sprintf("%d entries", p.Entries)
		if p.Entries == 1 {
			what = "1 entry"
		}
		if p.Full {
			what = fmt.Sprintf("history.size %d, full", p.Entries)
		}
		sr.add(fmt.Sprintf("bytes_per_recipient_%d_at_%d", p.Entries, v),
			fmt.Sprintf("Redis per recipient, %s, stream-node-max-bytes %d", what, v), p.BytesPerRecipient, "B")
	}
}
