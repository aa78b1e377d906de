package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redisserver"
)

// Server kinds a scenario runs against.
const (
	kindHerald   = "herald"
	kindBaseline = "baseline"
)

// env is what a scenario runs against: Herald nodes (started here or given with
// --target) and their Redis, or the bare gws baseline server.
type env struct {
	kind     string
	urls     []string      // WebSocket URL per node
	bases    []string      // http://host:port per node (metrics, readiness)
	procs    []*serverProc // the processes started here, one per node (nil entries for --target)
	redis    *redisProc    // started here, or nil
	rdb      redis.UniversalClient
	redisURL string
	secret   string
	keys     streams.Keys
	external bool
}

// newSecret is a random HS256 secret for a run.
func newSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startEnv starts (or attaches to) what a scenario needs. On an error, whatever
// it started is stopped.
func (r *runner) startEnv(ctx context.Context, kind string, nodes int, dir string) (*env, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	e := &env{kind: kind, keys: streams.NewKeys(r.cfg.Prefix, r.cfg.Partitions)}
	if kind == kindBaseline {
		if err := r.startBaselineServer(ctx, e, dir); err != nil {
			return nil, err
		}
		return e, nil
	}
	if err := r.startHerald(ctx, e, nodes, dir); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// startHerald connects to Redis (started here or --redis), then starts the nodes
// or attaches to --target.
func (r *runner) startHerald(ctx context.Context, e *env, nodes int, dir string) error {
	if err := r.attachRedis(ctx, e, dir); err != nil {
		return err
	}
	if len(r.cfg.Target) > 0 {
		return r.attachTargets(e)
	}
	return r.startNodes(ctx, e, nodes, dir)
}

// attachRedis starts a redis-server for the scenario, or takes --redis, and
// connects to it.
func (r *runner) attachRedis(ctx context.Context, e *env, dir string) error {
	switch {
	case r.cfg.Redis != "":
		e.redisURL = r.cfg.Redis
		e.external = true
	case len(r.cfg.Target) > 0:
		return errors.New("--target needs --redis: the bench publishes by XADD to the nodes' Redis")
	default:
		rp, err := startRedis(filepath.Join(dir, "redis"), r.cfg.RedisArgs)
		if err != nil {
			return err
		}
		e.redis, e.redisURL = rp, rp.Addr
	}
	e.rdb = redis.NewClient(&redis.Options{Addr: e.redisURL, PoolSize: 32, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
	if err := e.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis %s: %w", e.redisURL, err)
	}
	if r.res != nil && r.res.Machine.RedisVersion == "" {
		if kv, err := redisInfo(ctx, e.rdb, "server"); err == nil {
			r.res.Machine.RedisVersion = kv["redis_version"]
		}
	}
	return nil
}

// attachTargets takes the nodes of --target, which need their token secret.
func (r *runner) attachTargets(e *env) error {
	e.external = true
	e.secret = r.cfg.Secret
	if e.secret == "" {
		return errors.New("--target needs the nodes' token secret: --secret or HERALD_AUTH__HMAC_SECRET")
	}
	for _, t := range r.cfg.Target {
		e.urls = append(e.urls, "ws://"+t+"/ws")
		e.bases = append(e.bases, "http://"+t)
		e.procs = append(e.procs, nil)
	}
	return nil
}

// startNodes starts the nodes side by side, with --secret or a random one.
func (r *runner) startNodes(ctx context.Context, e *env, nodes int, dir string) error {
	e.secret = r.cfg.Secret
	if e.secret == "" {
		e.secret = newSecret()
	}
	type started struct {
		i   int
		p   *serverProc
		err error
	}
	ch := make(chan started, nodes)
	for i := 0; i < nodes; i++ {
		go func(i int) {
			p, err := r.startNode(ctx, e, i, dir)
			ch <- started{i, p, err}
		}(i)
	}
	e.procs = make([]*serverProc, nodes)
	var errs []error
	for range nodes {
		s := <-ch
		e.procs[s.i] = s.p
		if s.err != nil {
			errs = append(errs, s.err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, p := range e.procs {
		e.urls = append(e.urls, "ws://"+p.addr+"/ws")
		e.bases = append(e.bases, "http://"+p.addr)
	}
	return nil
}

// startNode starts herald node i, retrying with another port when the one picked
// was taken meanwhile.
func (r *runner) startNode(ctx context.Context, e *env, i int, dir string) (*serverProc, error) {
	var lastErr error
	for try := 0; try < 3; try++ {
		port, err := redisserver.FreePort()
		if err != nil {
			return nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		args := []string{"serve",
			"--node.id", "bench-n" + strconv.Itoa(i),
			"--server.addr", addr,
			"--redis.addr", e.redisURL,
			"--redis.prefix", r.cfg.Prefix,
			"--streams.partitions", strconv.Itoa(r.cfg.Partitions),
			"--auth.hmac_secret", e.secret,
			"--log.level", "warn",
		}
		args = append(args, r.cfg.NodeFlags...)
		p, err := startServerProc(ctx, "node bench-n"+strconv.Itoa(i), r.heraldBin, args, addr, "/readyz",
			filepath.Join(dir, "node-"+strconv.Itoa(i)+".log"))
		if err == nil {
			return p, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, lastErr
}

// close stops everything the env started: nodes with SIGKILL (a drain would only
// slow the run down; nothing is kept), then Redis.
func (e *env) close() {
	var wg sync.WaitGroup
	for _, p := range e.procs {
		if p != nil && p.alive() {
			wg.Add(1)
			go func(p *serverProc) { defer wg.Done(); p.Kill() }(p)
		}
	}
	wg.Wait()
	if e.rdb != nil {
		_ = e.rdb.Close()
	}
	e.redis.Kill()
}
