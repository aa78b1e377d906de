package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// MasterName is the name the Sentinels of StartSentinel monitor the master by.
const MasterName = "herald-master"

// StartReplica starts a redis-server replicating master (same options) and waits
// until its link to the master is up.
func StartReplica(tb testing.TB, master *Server) *Server {
	tb.Helper()
	opts := master.opts
	opts.Args = append(append([]string(nil), opts.Args...), "--replicaof", "127.0.0.1", strconv.Itoa(master.port))
	if master.password != "" {
		opts.Args = append(opts.Args, "--masterauth", master.password)
	}
	r := start(tb, opts, false)
	waitInfo(tb, r, "replication", "master_link_status:up", 20*time.Second)
	return r
}

// waitInfo waits until INFO section of s contains want.
func waitInfo(tb testing.TB, s *Server, section, want string, d time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		info, err := s.do("INFO", section)
		if err == nil && strings.Contains(info, want) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: %s: no %q in INFO %s after %v (err=%v)\nlog:\n%s", s.Addr, want, section, d, err, s.LogTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Sentinel is a master with one replica, watched by three Sentinels (quorum 2)
// that fail over a master unreachable for DownAfter.
type Sentinel struct {
	Master, Replica *Server   // as started; after a failover the roles swap
	Sentinels       []*Server // redis-server --sentinel processes
	Addrs           []string  // the Sentinels' addresses
}

// SentinelDownAfter is the Sentinels' down-after-milliseconds: how long a master
// must be unreachable before they fail it over.
const SentinelDownAfter = time.Second

// StartSentinel starts a master, a replica and three Sentinels on free loopback
// ports and waits until every Sentinel knows the replica and the other
// Sentinels. Every process is stopped by its own tb.Cleanup.
func StartSentinel(tb testing.TB, opts Options) *Sentinel {
	tb.Helper()
	if opts.Password != "" {
		tb.Fatal("redistest: StartSentinel does not support a password yet")
	}
	g := &Sentinel{Master: start(tb, opts, false)}
	g.Replica = StartReplica(tb, g.Master)
	for i := 0; i < 3; i++ {
		s := startSentinel(tb, g.Master.port)
		g.Sentinels = append(g.Sentinels, s)
		g.Addrs = append(g.Addrs, s.Addr)
	}
	for _, s := range g.Sentinels {
		waitSentinel(tb, s, 20*time.Second, func(m map[string]string) bool {
			return m["num-slaves"] == "1" && m["num-other-sentinels"] == "2"
		})
	}
	return g
}

// startSentinel starts one Sentinel monitoring the master on masterPort.
func startSentinel(tb testing.TB, masterPort int) *Server {
	tb.Helper()
	bin, err := ServerBinary()
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{bin: bin, dir: tb.TempDir()}
	s.logPath = filepath.Join(s.dir, "redis.log")
	tb.Cleanup(s.Stop)
	// Sentinel rewrites its config file: one per process, in its own dir.
	s.sentinelConf = filepath.Join(s.dir, "sentinel.conf")
	conf := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2\n"+
		"sentinel down-after-milliseconds %s %d\n"+
		"sentinel failover-timeout %s 10000\n"+
		"sentinel parallel-syncs %s 1\n",
		MasterName, masterPort, MasterName, SentinelDownAfter.Milliseconds(), MasterName, MasterName)
	if err := os.WriteFile(s.sentinelConf, []byte(conf), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := s.launchOnFreePort(false); err != nil {
		tb.Fatalf("redistest: starting sentinel: %v", err)
	}
	return s
}

// sentinelArgs: the config file first, then overrides (Sentinel takes no
// persistence or cluster options).
func (s *Server) sentinelArgs() []string {
	return []string{s.sentinelConf, "--sentinel",
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--daemonize", "no", "--protected-mode", "no", "--logfile", ""}
}

// waitSentinel waits until SENTINEL MASTER on s satisfies ok.
func waitSentinel(tb testing.TB, s *Server, d time.Duration, ok func(map[string]string) bool) {
	tb.Helper()
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	deadline := time.Now().Add(d)
	for {
		m, err := c.Master(context.Background(), MasterName).Result()
		if err == nil && ok(m) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: sentinel %s not ready after %v: %v %v\nlog:\n%s", s.Addr, d, m, err, s.LogTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// MasterAddr asks the Sentinels which address the master has now.
func (g *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	var lastErr error
	for _, a := range g.Addrs {
		c := redis.NewSentinelClient(&redis.Options{Addr: a})
		addr, err := c.GetMasterAddrByName(ctx, MasterName).Result()
		_ = c.Close()
		if err == nil && len(addr) == 2 {
			return net.JoinHostPort(addr[0], addr[1]), nil
		}
		lastErr = err
	}
	return "", fmt.Errorf("redistest: no sentinel names the master: %v", lastErr)
}

// CurrentMaster is the started server the Sentinels name as master now.
func (g *Sentinel) CurrentMaster(tb testing.TB) *Server {
	tb.Helper()
	addr, err := g.MasterAddr(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	for _, s := range []*Server{g.Master, g.Replica} {
		if s.Addr == addr {
			return s
		}
	}
	tb.Fatalf("redistest: the sentinels name %s, neither master nor replica", addr)
	return nil
}

// WaitFailover waits until the Sentinels name another master than old and that
// master answers as one.
func (g *Sentinel) WaitFailover(tb testing.TB, old string, d time.Duration) *Server {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		addr, err := g.MasterAddr(context.Background())
		if err == nil && addr != old {
			s := g.CurrentMaster(tb)
			waitInfo(tb, s, "replication", "role:master", time.Until(deadline)+time.Second)
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: no failover from %s within %v (%v)", old, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Client is a go-redis failover client for the group, closed by tb.Cleanup.
func (g *Sentinel) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: MasterName, SentinelAddrs: g.Addrs})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}
