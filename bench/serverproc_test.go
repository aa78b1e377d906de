package bench

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRedactArgs(t *testing.T) {
	in := []string{"serve", "--auth.hmac_secret", "s3cret", "--log.level", "warn", "--auth.hmac_secret"}
	got := redactArgs(in)
	if !reflect.DeepEqual(got, []string{"serve", "--auth.hmac_secret", "****", "--log.level", "warn", "--auth.hmac_secret"}) || in[2] != "s3cret" {
		t.Errorf("redactArgs = %v (input %v)", got, in)
	}
}

// A process that exits before it is ready is reported with its log's tail; the
// secret never reaches the log.
func TestServerProcExitsDuringStartup(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "node.log")
	_, err := startServerProc(context.Background(), "node x", "/bin/sh", []string{"-c", "echo failing on purpose; exit 3", "--auth.hmac_secret", "s3cret"},
		"127.0.0.1:1", "/readyz", logPath)
	if err == nil || !strings.Contains(err.Error(), "node x exited during startup (exit status 3)") || !strings.Contains(err.Error(), "failing on purpose") {
		t.Errorf("err = %v", err)
	}
	b, _ := os.ReadFile(logPath)
	if strings.Contains(string(b), "s3cret") || !strings.HasPrefix(string(b), "### herald bench: /bin/sh -c ") {
		t.Errorf("log %q", b)
	}
	if _, err := launchProc("x", "/nonexistent/bin", nil, "", logPath); err == nil {
		t.Error("a missing binary started")
	}
	if _, err := launchProc("x", "/bin/true", nil, "", filepath.Join(t.TempDir(), "no", "log")); err == nil {
		t.Error("a log in a missing directory")
	}
}

// Ready when the URL answers 200; killed when it does not in time or ctx ends.
func TestServerProcReadiness(t *testing.T) {
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ready.Close()
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer notReady.Close()
	logPath := filepath.Join(t.TempDir(), "p.log")
	p, err := startServerProc(context.Background(), "sleeper", "sleep", []string{"30"}, strings.TrimPrefix(ready.URL, "http://"), "/readyz", logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !p.alive() || p.PID() <= 0 {
		t.Error("a started process is not alive")
	}
	start := time.Now()
	p.Stop(5 * time.Second) // sleep dies of SIGTERM
	if p.alive() || time.Since(start) > 2*time.Second {
		t.Errorf("Stop: alive %v after %v", p.alive(), time.Since(start))
	}
	p.Kill() // idempotent
	p, err = launchProc("sleeper", "sleep", []string{"30"}, "", logPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.waitReady(context.Background(), notReady.URL, 200*time.Millisecond); err == nil || !strings.Contains(err.Error(), "sleeper not ready within 200ms") {
		t.Errorf("not ready: %v", err)
	}
	if p.alive() {
		t.Error("a process that was not ready still runs")
	}
	p, err = launchProc("sleeper", "sleep", []string{"30"}, "", logPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.waitReady(ctx, notReady.URL, time.Minute); err != context.Canceled || p.alive() {
		t.Errorf("cancelled: %v, alive %v", err, p.alive())
	}
}

// Stop kills a process that ignores SIGTERM once the timeout is over.
func TestServerProcStopEscalates(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "trapped")
	p, err := launchProc("stubborn", "/bin/sh", []string{"-c", "trap '' TERM; touch " + ready + "; exec sleep 30"}, "", filepath.Join(t.TempDir(), "p.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, err := os.Stat(ready); err != nil; _, err = os.Stat(ready) { // the shell has set its trap
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	p.Stop(200 * time.Millisecond)
	if p.alive() || time.Since(start) < 200*time.Millisecond {
		t.Errorf("alive %v after %v", p.alive(), time.Since(start))
	}
}

func TestNewSecret(t *testing.T) {
	a, b := newSecret(), newSecret()
	if len(a) != 48 || a == b || strings.Trim(a, "0123456789abcdef") != "" {
		t.Errorf("secrets %q %q", a, b)
	}
}

// What a scenario runs against, short of starting nodes.
func TestStartEnvChecks(t *testing.T) {
	r := &runner{cfg: &Config{Target: []string{"127.0.0.1:1"}, Prefix: "herald", Partitions: 1}}
	if _, err := r.startEnv(context.Background(), kindHerald, 1, t.TempDir()); err == nil || !strings.Contains(err.Error(), "--target needs --redis") {
		t.Errorf("--target without --redis: %v", err)
	}
	srv := redisEnv(t)
	r.cfg.Redis = srv.redisURL
	if _, err := r.startEnv(context.Background(), kindHerald, 1, t.TempDir()); err == nil || !strings.Contains(err.Error(), "--target needs the nodes' token secret") {
		t.Errorf("--target without a secret: %v", err)
	}
	r.cfg.Secret = "s"
	r.cfg.Target = []string{"10.0.0.1:8080", "10.0.0.2:8080"}
	r.res = &Results{}
	e, err := r.startEnv(context.Background(), kindHerald, 5, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	if !e.external || e.secret != "s" || !reflect.DeepEqual(e.urls, []string{"ws://10.0.0.1:8080/ws", "ws://10.0.0.2:8080/ws"}) ||
		!reflect.DeepEqual(e.bases, []string{"http://10.0.0.1:8080", "http://10.0.0.2:8080"}) || len(e.procs) != 2 || e.procs[0] != nil ||
		e.redis != nil || r.res.Machine.RedisVersion == "" {
		t.Errorf("env %+v, machine %+v", e, r.res.Machine)
	}
	r.cfg.Redis = "127.0.0.1:1"
	if _, err := r.startEnv(context.Background(), kindHerald, 1, t.TempDir()); err == nil || !strings.HasPrefix(err.Error(), "redis 127.0.0.1:1: ") {
		t.Errorf("no Redis there: %v", err)
	}
	if _, err := r.startEnv(context.Background(), kindHerald, 1, "/proc/no/such/dir"); err == nil {
		t.Error("a run directory that cannot be made")
	}
}

// Started nodes that fail take everything started with them down.
func TestStartNodesFailure(t *testing.T) {
	r := &runner{cfg: &Config{Prefix: "herald", Partitions: 1}, heraldBin: "/bin/false"}
	dir := t.TempDir()
	_, err := r.startEnv(context.Background(), kindHerald, 2, dir)
	if err == nil || !strings.Contains(err.Error(), "node bench-n0 exited during startup") || !strings.Contains(err.Error(), "node bench-n1 exited during startup") {
		t.Errorf("err = %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "node-0.log"))
	for _, want := range []string{"serve --node.id bench-n0 --server.addr 127.0.0.1:", "--auth.hmac_secret **** --log.level warn"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("node log lacks %q: %s", want, b)
		}
	}
	// The redis-server it started is gone.
	logb, _ := os.ReadFile(filepath.Join(dir, "redis", "redis.log"))
	if !strings.Contains(string(logb), "### herald bench: ") {
		t.Fatalf("no redis log: %s", logb)
	}
	port := redisPortFromLog(string(logb))
	if port == "" {
		t.Fatalf("no port in the redis log: %s", logb)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
		c.Close()
		t.Error("the scenario's redis-server still runs")
	}
}

// redisPortFromLog reads the --port the bench gave redis-server.
func redisPortFromLog(log string) string {
	i := strings.Index(log, `"--port" "`)
	if i < 0 {
		return ""
	}
	rest := log[i+len(`"--port" "`):]
	return rest[:strings.IndexByte(rest, '"')]
}

func TestEnvCloseOfNothing(t *testing.T) {
	(&env{}).close()
	(&env{procs: []*serverProc{nil}}).close()
}
