package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// safePolicy is the only maxmemory-policy under which Redis never deletes a key to
// make room: with any other, a full Redis may evict history streams, consumer
// groups with their pending entries, or presence sets, and pushes vanish silently.
const safePolicy = "noeviction"

// RedisCheckConfig tunes the checks of the Redis a node runs on.
type RedisCheckConfig struct {
	Node          string
	AllowEviction bool          // redis.allow_eviction: run under an evicting policy anyway
	Every         time.Duration // how often the eviction policy is read again (default 1 min)
}

// RedisCheck verifies at start that Redis suits Herald (version, commands the user
// may run, eviction policy) on every master, then re-reads the eviction policy
// every minute: a policy changed under a running node is logged, counted and shown
// in /readyz. It also tells /readyz when a master is out of memory.
type RedisCheck struct {
	rdb     redis.UniversalClient
	keys    Keys
	cfg     RedisCheckConfig
	log     *slog.Logger
	metrics *Metrics

	mu       sync.Mutex
	policies map[string]string // master address -> maxmemory-policy, as last read
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
	started  bool
}

// NewRedisCheck returns the checks; Verify runs the start checks, Start the
// periodic one.
func NewRedisCheck(rdb redis.UniversalClient, keys Keys, cfg RedisCheckConfig, log *slog.Logger, m *Metrics) *RedisCheck {
	if cfg.Every <= 0 {
		cfg.Every = time.Minute
	}
	return &RedisCheck{
		rdb: rdb, keys: keys, cfg: cfg, log: log, metrics: m,
		policies: make(map[string]string),
		stop:     make(chan struct{}), done: make(chan struct{}),
	}
}

// masterInfo is what one master's INFO says.
type masterInfo struct {
	addr    string
	fields  map[string]string
	version string
}

// forEachMaster runs f on every master (the one server when Redis is standalone).
func (c *RedisCheck) forEachMaster(ctx context.Context, f func(ctx context.Context, m *redis.Client) error) error {
	if cc, ok := c.rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, f)
	}
	if m, ok := c.rdb.(*redis.Client); ok {
		return f(ctx, m)
	}
	return fmt.Errorf("streams: redis checks need a *redis.Client or *redis.ClusterClient, got %T", c.rdb)
}

// Verify runs the start checks on every master: the user may run every command a
// node sends (naming those it may not), Redis is new enough, and its eviction
// policy is noeviction unless cfg.AllowEviction. It also logs once when Redis
// keeps the default stream-node-max-bytes, where it may read it.
func (c *RedisCheck) Verify(ctx context.Context) error {
	_, cluster := c.rdb.(*redis.ClusterClient)
	var mu sync.Mutex
	var problems []string
	var nodes []nodeSetting
	err := c.forEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		p, node, err := c.verifyMaster(ctx, m, cluster)
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, p...)
		if node != nil {
			nodes = append(nodes, *node)
		}
		return err
	})
	if err != nil {
		return err
	}
	c.publishUnsafe()
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("streams: redis does not suit Herald:\n  %s", strings.Join(problems, "\n  "))
	}
	c.logStreamNodes(nodes)
	return nil
}

// verifyMaster runs the start checks on one master and returns what does not suit
// Herald, and its stream-node-max-bytes when it could be read.
func (c *RedisCheck) verifyMaster(ctx context.Context, m *redis.Client, cluster bool) ([]string, *nodeSetting, error) {
	addr := m.Options().Addr
	res, err := probeCommands(ctx, m, c.probeKey(), cluster)
	if err != nil {
		return nil, nil, err
	}
	if p := describeProbe(addr, m.Options().Username, c.keys.prefix, res); p != "" {
		return []string{p}, nil, nil
	}
	info, err := readInfo(ctx, m, "server")
	if err != nil {
		return nil, nil, err
	}
	var problems []string
	if !versionAtLeast(info["redis_version"], MinRedisVersion) {
		problems = append(problems, fmt.Sprintf("redis %s is version %s; Herald needs %s or newer (XAUTOCLAIM, ZADD LT, MINID)", addr, info["redis_version"], MinRedisVersion))
	}
	policy, err := c.readPolicy(ctx, m)
	if err != nil {
		return nil, nil, err
	}
	c.setPolicy(addr, policy)
	if policy != safePolicy {
		if !c.cfg.AllowEviction {
			problems = append(problems, evictionProblem(addr, policy))
		} else {
			c.log.Warn("redis may evict Herald's keys; accepted by redis.allow_eviction", "redis", addr, "maxmemory_policy", policy)
		}
	}
	var node *nodeSetting
	if v, ok := readStreamNodeBytes(ctx, m, info["redis_version"]); ok {
		node = &nodeSetting{addr: addr, bytes: v}
	}
	return problems, node, nil
}

// probeKey is under the prefix and this node's hash tag: it exists only between
// the probe that writes it and the one that deletes it.
func (c *RedisCheck) probeKey() string {
	return c.keys.prefix + ":{n:" + c.cfg.Node + "}:probe"
}

func describeProbe(addr, user, prefix string, res probeResult) string {
	if user == "" {
		user = "default"
	}
	var parts []string
	if len(res.unknown) > 0 {
		parts = append(parts, fmt.Sprintf("redis %s does not know %s: Herald needs Redis %s or newer",
			addr, strings.Join(res.unknown, ", "), MinRedisVersion))
	}
	if len(res.denied) > 0 {
		parts = append(parts, fmt.Sprintf("redis user %q on %s may not run %s; grant them (docs/OPERATIONS.md, \"Redis requirements\", has the ACL rule)",
			user, addr, strings.Join(res.denied, ", ")))
	}
	if res.keys {
		parts = append(parts, fmt.Sprintf("redis user %q on %s may not use the keys %s:*; grant ~%s:*", user, addr, prefix, prefix))
	}
	return strings.Join(parts, "\n  ")
}

func evictionProblem(addr, policy string) string {
	return fmt.Sprintf("redis %s has maxmemory-policy %s: when memory is full Redis deletes keys to make room, "+
		"and Herald's history, consumer groups with their pending entries and presence sets can vanish, "+
		"losing pushes without an error. Set maxmemory-policy noeviction (redis.conf, or CONFIG SET maxmemory-policy noeviction), "+
		"or accept the risk with redis.allow_eviction=true", addr, policy)
}

// readInfo reads one INFO section of m as key/value fields.
func readInfo(ctx context.Context, m *redis.Client, section string) (map[string]string, error) {
	s, err := m.Info(ctx, section).Result()
	if err != nil {
		return nil, fmt.Errorf("streams: INFO %s on %s: %w", section, m.Options().Addr, err)
	}
	fields := make(map[string]string)
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			fields[k] = v
		}
	}
	return fields, nil
}

// readPolicy reads maxmemory-policy from INFO memory, which a user without CONFIG
// (managed Redis services disable it) may run.
func (c *RedisCheck) readPolicy(ctx context.Context, m *redis.Client) (string, error) {
	info, err := readInfo(ctx, m, "memory")
	if err != nil {
		return "", err
	}
	p, ok := info["maxmemory_policy"]
	if !ok {
		return "", fmt.Errorf("streams: INFO memory on %s has no maxmemory_policy", m.Options().Addr)
	}
	return p, nil
}

// versionAtLeast compares dotted versions numerically; an unreadable one fails.
func versionAtLeast(have, want string) bool {
	h, w := strings.Split(have, "."), strings.Split(want, ".")
	for i := range w {
		if i >= len(h) {
			return false
		}
		hv, err1 := strconv.Atoi(h[i])
		wv, err2 := strconv.Atoi(w[i])
		if err1 != nil || err2 != nil {
			return false
		}
		if hv != wv {
			return hv > wv
		}
	}
	return true
}

// setPolicy records addr's policy and reports whether it differs from a previous
// reading.
func (c *RedisCheck) setPolicy(addr, policy string) (old string, changed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, seen := c.policies[addr]
	c.policies[addr] = policy
	return old, seen && old != policy
}

// publishUnsafe sets the gauge to the number of masters under an evicting policy.
func (c *RedisCheck) publishUnsafe() {
	c.metrics.EvictionUnsafe.Set(float64(len(c.unsafe())))
}

// unsafe lists the masters under an evicting policy, sorted by address.
func (c *RedisCheck) unsafe() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for addr, p := range c.policies {
		if p != safePolicy {
			out = append(out, addr)
		}
	}
	sort.Strings(out)
	return out
}

// Warnings are the conditions /readyz shows without turning red: masters whose
// eviction policy may delete Herald's keys.
func (c *RedisCheck) Warnings() []string {
	var out []string
	for _, addr := range c.unsafe() {
		c.mu.Lock()
		p := c.policies[addr]
		c.mu.Unlock()
		w := fmt.Sprintf("redis %s has maxmemory-policy %s and may evict Herald's keys; set noeviction", addr, p)
		if c.cfg.AllowEviction {
			w += " (accepted by redis.allow_eviction)"
		}
		out = append(out, w)
	}
	return out
}

// Start re-reads the eviction policy every cfg.Every until Stop.
func (c *RedisCheck) Start() {
	c.started = true
	go c.run()
}

// Stop ends the periodic check. Idempotent; safe without Start.
func (c *RedisCheck) Stop() {
	c.once.Do(func() { close(c.stop) })
	if c.started {
		<-c.done
	}
}

func (c *RedisCheck) run() {
	defer close(c.done)
	t := time.NewTicker(c.cfg.Every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c.recheck(ctx)
			cancel()
		}
	}
}

// recheck reads every master's policy; a change is logged and counted. A failed
// read is left to the loops that report Redis failures.
func (c *RedisCheck) recheck(ctx context.Context) {
	_ = c.forEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		policy, err := c.readPolicy(ctx, m)
		if err != nil {
			return err
		}
		addr := m.Options().Addr
		if old, changed := c.setPolicy(addr, policy); changed {
			c.metrics.EvictionPolicyChanges.Inc()
			level := slog.LevelInfo
			if policy != safePolicy {
				level = slog.LevelWarn
			}
			c.log.Log(ctx, level, "redis eviction policy changed under a running node", "redis", addr,
				"from", old, "to", policy, "safe", policy == safePolicy)
		}
		return nil
	})
	c.publishUnsafe()
}

// ErrRedisFull says a master refuses writes: it reached maxmemory and evicts nothing.
var ErrRedisFull = errors.New("out of memory: writes are refused")

// MemoryReady is nil unless a master is over its maxmemory, where Redis refuses
// every write (with noeviction, or when nothing is left to evict). It applies
// Redis's own test: used_memory, less what is not counted for eviction, above
// maxmemory.
func (c *RedisCheck) MemoryReady(ctx context.Context) error {
	var mu sync.Mutex
	var full []string
	err := c.forEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		info, err := readInfo(ctx, m, "memory")
		if err != nil {
			return err
		}
		if over(info) {
			mu.Lock()
			full = append(full, fmt.Sprintf("redis %s has used_memory %s over maxmemory %s (policy %s)",
				m.Options().Addr, info["used_memory"], info["maxmemory"], info["maxmemory_policy"]))
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(full) > 0 {
		sort.Strings(full)
		return fmt.Errorf("%w: %s", ErrRedisFull, strings.Join(full, "; "))
	}
	return nil
}

// over applies Redis's maxmemory test (getMaxmemoryState) to INFO memory fields.
func over(info map[string]string) bool {
	maxmem, _ := strconv.ParseInt(info["maxmemory"], 10, 64)
	if maxmem <= 0 {
		return false
	}
	used, _ := strconv.ParseInt(info["used_memory"], 10, 64)
	notCounted, _ := strconv.ParseInt(info["mem_not_counted_for_evict"], 10, 64)
	return used-notCounted > maxmem
}
