package main

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/streams/redisserver"
	"github.com/herald-push/herald/streams/redistest"
)

// nemesisRedis is the Redis under test: one topology behind what the rest of the
// nemesis needs of it. Nodes, clients, the publisher and the checker do not know
// which one runs (the publisher only sends its WAIT to the ingress stream's own
// master on a Redis Cluster). A new topology implements this and gets a
// -nemesis.redis value in startNemesisRedis.
type nemesisRedis interface {
	// nodeFlags point a herald node at it (redis.addr, the Sentinels, or
	// redis.addrs, and redis.wait_replicas where replicas confirm writes).
	nodeFlags() []string
	// client is a new client of its master(s), without client-side retries, for
	// the publisher, the observer and the traces. The caller closes it.
	client(timeout time.Duration, pool int) redis.UniversalClient
	// publishWait is how many replicas a publish waits for (WAIT on the XADD's
	// connection) before it counts as acknowledged: 0 where there are none.
	publishWait() int
	// faults is its fault menu, the node faults included (nemesisFaultKind).
	faults(nodes int, nodeTTL time.Duration) []nemesisFaultKind
	// observe returns topology state for the observer's record (which server is
	// master, say), or nil.
	observe(ctx context.Context) map[string]string
	// heal restarts or resumes whatever a fault left down and waits until the
	// topology is whole again; it fails the test when it cannot.
	heal(t *testing.T, rec *nemesisRecorder)
	// keepLogs copies its servers' logs into dir before the harness removes them.
	keepLogs(dir string)
}

// startNemesisRedis starts the topology named by -nemesis.redis.
func startNemesisRedis(t *testing.T, name string, rec *nemesisRecorder) nemesisRedis {
	switch name {
	case "standalone":
		return startNemesisStandalone(t)
	case "sentinel":
		return startNemesisSentinel(t, rec)
	case "cluster":
		return startNemesisRedisCluster(t, rec)
	}
	t.Fatalf("-nemesis.redis %q: want standalone, sentinel or cluster", name)
	return nil
}

// Fault kinds of the standalone topology.
const (
	faultRedisKill = "redis-kill" // kill -9 of redis-server, restart from the AOF after Hold
	faultRedisStop = "redis-stop" // SIGSTOP of redis-server for Hold, then SIGCONT
)

// nemesisStandalone is one append-only redis-server (appendfsync always, so an
// acknowledged XADD survives kill -9).
type nemesisStandalone struct {
	srv *redistest.Server
	t   *testing.T
}

func startNemesisStandalone(t *testing.T) *nemesisStandalone {
	srv := redistest.Start(t, redistest.Options{AppendOnly: true, Args: []string{"--appendfsync", "always"}})
	return &nemesisStandalone{srv: srv, t: t}
}

func (s *nemesisStandalone) nodeFlags() []string { return []string{"--redis.addr", s.srv.Addr} }
func (s *nemesisStandalone) publishWait() int    { return 0 }

func (s *nemesisStandalone) client(timeout time.Duration, pool int) redis.UniversalClient {
	return redis.NewClient(&redis.Options{Addr: s.srv.Addr, MaxRetries: -1, DialTimeout: timeout,
		ReadTimeout: timeout, WriteTimeout: timeout, PoolSize: pool})
}

func (s *nemesisStandalone) observe(context.Context) map[string]string { return nil }

func (s *nemesisStandalone) keepLogs(dir string) {
	copyLog(filepath.Join(s.srv.Dir(), "redis.log"), filepath.Join(dir, "redis.log"))
}

func copyLog(from, to string) {
	if b, err := os.ReadFile(from); err == nil {
		_ = os.WriteFile(to, b, 0o644)
	}
}

// faults: the menu (and the draw order) of the first nemesis, so that a seed
// replays the same standalone plan as before topologies were pluggable.
func (s *nemesisStandalone) faults(nodes int, nodeTTL time.Duration) []nemesisFaultKind {
	return []nemesisFaultKind{
		nodeKillFault(0, 35, nodes),
		nodeStopFault(0, 20, nodes, nodeTTL),
		{kind: faultRedisKill, weight: 30, plan: planRedisCrashes, apply: func(_ *nemesis, f nemesisFault) {
			s.srv.Kill()
			time.Sleep(f.Hold)
			s.srv.Restart(s.t)
		}},
		{kind: faultRedisStop, weight: 15, plan: func(rng *rand.Rand, plan *[]nemesisFault, at time.Duration) time.Duration {
			hold := between(rng, 2*time.Second, 5*time.Second)
			*plan = append(*plan, nemesisFault{At: at, Kind: faultRedisStop, Hold: hold})
			return at + hold
		}, apply: s.stop},
	}
}

func (s *nemesisStandalone) stop(nm *nemesis, f nemesisFault) {
	pid, err := s.pid()
	if err != nil {
		nm.rec.now(nemesisEvent{Ev: "anomaly", Kind: f.Kind, Detail: "redis pid: " + err.Error()})
		return
	}
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	time.Sleep(f.Hold)
	_ = syscall.Kill(pid, syscall.SIGCONT)
}

// planRedisCrashes adds one Redis crash, or one time in three a burst of 2 or 3
// crashes within 30 s, and returns when the last one is over.
func planRedisCrashes(rng *rand.Rand, plan *[]nemesisFault, at time.Duration) time.Duration {
	n := 1
	if rng.Intn(3) == 0 {
		n = 2 + rng.Intn(2)
	}
	for i := 0; i < n; i++ {
		if i > 0 {
			at += between(rng, 2*time.Second, 8*time.Second) // crashes 2 and 3 follow within 30 s
		}
		f := nemesisFault{At: at, Kind: faultRedisKill, Hold: between(rng, time.Second, 3*time.Second)}
		if n > 1 {
			f.Burst = i + 1
		}
		*plan = append(*plan, f)
		at += f.Hold
	}
	return at
}

// heal restarts a Redis that does not answer.
func (s *nemesisStandalone) heal(t *testing.T, rec *nemesisRecorder) {
	if _, err := s.pid(); err != nil {
		rec.now(nemesisEvent{Ev: "heal", Detail: "restarting redis: " + err.Error()})
		s.srv.Restart(t)
	}
}

// pid returns the pid of the running redis-server, from INFO: it answers only when
// the server runs and is not stopped.
func (s *nemesisStandalone) pid() (int, error) {
	info, err := redisserver.Do(s.srv.Addr, "", "INFO", "server")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, fmt.Errorf("no process_id in INFO server")
}
