package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

// serverProc is a server process the bench started: a herald node or the baseline.
type serverProc struct {
	name    string
	addr    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	mu      sync.Mutex
	killed  bool
}

// startServerProc runs bin args with output to logPath, and waits until
// http://addr+readyPath answers 200.
func startServerProc(ctx context.Context, name, bin string, args []string, addr, readyPath, logPath string) (*serverProc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "### herald bench: %s %s\n", bin, strings.Join(redactArgs(args), " "))
	p := &serverProc{name: name, addr: addr, logPath: logPath, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited during startup (%v); log %s:\n%s", name, p.cmd.ProcessState, logPath, tailFile(logPath, 0, 20))
		case <-ctx.Done():
			p.Kill()
			return nil, ctx.Err()
		default:
		}
		if res, err := http.Get("http://" + addr + readyPath); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.Kill()
			return nil, fmt.Errorf("%s not ready within 30s; log %s:\n%s", name, logPath, tailFile(logPath, 0, 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// redactArgs hides the value after --auth.hmac_secret in logs.
func redactArgs(args []string) []string {
	out := append([]string(nil), args...)
	for i := range out {
		if out[i] == "--auth.hmac_secret" && i+1 < len(out) {
			out[i+1] = "****"
		}
	}
	return out
}

// PID is the process id.
func (p *serverProc) PID() int { return p.cmd.Process.Pid }

// Kill is kill -9; it waits until the process is gone. Idempotent.
func (p *serverProc) Kill() {
	p.mu.Lock()
	p.killed = true
	p.mu.Unlock()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM (a herald node drains), then SIGKILL after timeout.
func (p *serverProc) Stop(timeout time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.Kill()
	}
}

// alive reports whether the process still runs.
func (p *serverProc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// newSecret is a random HS256 secret for a run.
func newSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startEnv starts (or attaches to) what a scenario needs.
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
	ok := false
	defer func() {
		if !ok {
			e.close()
		}
	}()
	// Redis.
	switch {
	case r.cfg.Redis != "":
		e.redisURL = r.cfg.Redis
		e.external = true
	case len(r.cfg.Target) > 0:
		return nil, errors.New("--target needs --redis: the bench publishes by XADD to the nodes' Redis")
	default:
		rp, err := startRedis(filepath.Join(dir, "redis"), r.cfg.RedisArgs)
		if err != nil {
			return nil, err
		}
		e.redis, e.redisURL = rp, rp.Addr
	}
	e.rdb = redis.NewClient(&redis.Options{Addr: e.redisURL, PoolSize: 32, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
	if err := e.rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis %s: %w", e.redisURL, err)
	}
	if r.res != nil && r.res.Machine.RedisVersion == "" {
		if kv, err := redisInfo(ctx, e.rdb, "server"); err == nil {
			r.res.Machine.RedisVersion = kv["redis_version"]
		}
	}
	// Nodes.
	if len(r.cfg.Target) > 0 {
		e.external = true
		e.secret = r.cfg.Secret
		if e.secret == "" {
			return nil, errors.New("--target needs the nodes' token secret: --secret or HERALD_AUTH__HMAC_SECRET")
		}
		for _, t := range r.cfg.Target {
			e.urls = append(e.urls, "ws://"+t+"/ws")
			e.bases = append(e.bases, "http://"+t)
			e.procs = append(e.procs, nil)
		}
		ok = true
		return e, nil
	}
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
		return nil, err
	}
	for _, p := range e.procs {
		e.urls = append(e.urls, "ws://"+p.addr+"/ws")
		e.bases = append(e.bases, "http://"+p.addr)
	}
	ok = true
	return e, nil
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
