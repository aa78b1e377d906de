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

// Sentinel is a master with replicas, watched by three Sentinels (quorum 2)
// that fail over a master unreachable for DownAfter.
type Sentinel struct {
	Master, Replica *Server   // as started (Replica is Replicas[0]); after a failover the roles swap
	Replicas        []*Server // every replica, as started
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
	return StartSentinelReplicas(tb, opts, 1)
}

// StartSentinelReplicas is StartSentinel with n replicas (every server gets opts):
// with two, a failover leaves the new master a replica to confirm WAIT 1.
func StartSentinelReplicas(tb testing.TB, opts Options, n int) *Sentinel {
	tb.Helper()
	if opts.Password != "" {
		tb.Fatal("redistest: StartSentinel does not support a password yet")
	}
	g := &Sentinel{Master: start(tb, opts, false)}
	for i := 0; i < n; i++ {
		g.Replicas = append(g.Replicas, StartReplica(tb, g.Master))
	}
	g.Replica = g.Replicas[0]
	for i := 0; i < 3; i++ {
		s := startSentinel(tb, g.Master.port)
		g.Sentinels = append(g.Sentinels, s)
		g.Addrs = append(g.Addrs, s.Addr)
	}
	for _, s := range g.Sentinels {
		waitSentinel(tb, s, 20*time.Second, func(m map[string]string) bool {
			return m["num-slaves"] == strconv.Itoa(n) && m["num-other-sentinels"] == "2"
		})
	}
	return g
}

// Servers returns the master and the replicas as started.
func (g *Sentinel) Servers() []*Server {
	return append([]*Server{g.Master}, g.Replicas...)
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
	for _, s := range g.Servers() {
		if s.Addr == addr {
			return s
		}
	}
	tb.Fatalf("redistest: the sentinels name %s, none of the group's servers", addr)
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

// RestartAs restarts s (see Restart) as a replica of master, or as a master when
// master is nil. A Sentinel changes a server's role at run time (REPLICAOF) and
// persists it with CONFIG REWRITE; a redistest server has no config file, so the
// caller says which role the new process starts in: the one it had when it went
// down, as a rewritten config file would.
func (s *Server) RestartAs(tb testing.TB, master *Server) {
	tb.Helper()
	args := withoutReplicaOf(s.opts.Args)
	if master != nil {
		args = append(args, "--replicaof", "127.0.0.1", strconv.Itoa(master.port))
		if master.password != "" {
			args = append(args, "--masterauth", master.password)
		}
	}
	s.opts.Args = args
	s.Restart(tb)
}

// withoutReplicaOf drops --replicaof <host> <port> and --masterauth <pw> from args.
func withoutReplicaOf(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--replicaof":
			i += 2
		case "--masterauth":
			i++
		default:
			out = append(out, args[i])
		}
	}
	return out
}

// Running reports whether the server's process runs (it may be SIGSTOPped).
func (s *Server) Running() bool {
	cmd, _ := s.running()
	return cmd != nil
}

// Pid returns the pid of the server's process, 0 when none runs (to SIGSTOP it).
func (s *Server) Pid() int {
	cmd, _ := s.running()
	if cmd == nil {
		return 0
	}
	return cmd.Process.Pid
}

// Settled returns the master, and a nil error once the group is whole after a
// fault: every Sentinel names the same master, that server answers as master with
// every other server of the group attached as an online replica, and no Sentinel
// flags a replica down (so that it can promote any of them the next time). A
// Sentinel's other details of a replica (its link status) come from an INFO it
// refreshes every 10 s, or every second once the master is down, so they are not
// waited for.
func (g *Sentinel) Settled(ctx context.Context) (*Server, error) {
	m, info, err := g.agreedMasterInfo(ctx)
	if err != nil {
		return m, err
	}
	for _, s := range g.Servers() {
		if s == m {
			continue
		}
		if !strings.Contains(info, fmt.Sprintf("port=%d,state=online", s.port)) {
			return m, fmt.Errorf("master %s: replica %s not attached and online", m.Addr, s.Addr)
		}
		ri, err := s.do("INFO", "replication")
		if err != nil || !strings.Contains(ri, "master_link_status:up") || !strings.Contains(ri, fmt.Sprintf("master_port:%d\r", m.port)) {
			return m, fmt.Errorf("replica %s: no live link to %s (%v)", s.Addr, m.Addr, err)
		}
	}
	return m, g.replicasSeenUp(ctx, len(g.Replicas))
}

// Available returns the master, and a nil error once writes under WAIT 1 can go
// on: every Sentinel names it, it answers as master, and at least one replica is
// attached online.
func (g *Sentinel) Available(ctx context.Context) (*Server, error) {
	m, info, err := g.agreedMasterInfo(ctx)
	if err != nil {
		return m, err
	}
	if !strings.Contains(info, ",state=online") {
		return m, fmt.Errorf("master %s: no replica online", m.Addr)
	}
	return m, nil
}

// agreedMasterInfo returns the server every Sentinel names as master and its INFO
// replication, which must say role:master.
func (g *Sentinel) agreedMasterInfo(ctx context.Context) (*Server, string, error) {
	addr, err := g.agreedMaster(ctx)
	if err != nil {
		return nil, "", err
	}
	var m *Server
	for _, s := range g.Servers() {
		if s.Addr == addr {
			m = s
		}
	}
	if m == nil {
		return nil, "", fmt.Errorf("the sentinels name %s, none of the group's servers", addr)
	}
	info, err := m.do("INFO", "replication")
	if err != nil || !strings.Contains(info, "role:master") {
		return m, "", fmt.Errorf("master %s: not answering as master (%v)", m.Addr, err)
	}
	return m, info, nil
}

// agreedMaster returns the master address every Sentinel names.
func (g *Sentinel) agreedMaster(ctx context.Context) (string, error) {
	var addr string
	for _, a := range g.Addrs {
		c := redis.NewSentinelClient(&redis.Options{Addr: a})
		got, err := c.GetMasterAddrByName(ctx, MasterName).Result()
		_ = c.Close()
		if err != nil || len(got) != 2 {
			return "", fmt.Errorf("sentinel %s: %v %v", a, got, err)
		}
		if name := net.JoinHostPort(got[0], got[1]); addr == "" {
			addr = name
		} else if name != addr {
			return "", fmt.Errorf("sentinels disagree: %s and %s", addr, name)
		}
	}
	return addr, nil
}

// replicasSeenUp checks that every Sentinel lists n replicas, none flagged down
// or disconnected.
func (g *Sentinel) replicasSeenUp(ctx context.Context, n int) error {
	for _, a := range g.Addrs {
		c := redis.NewSentinelClient(&redis.Options{Addr: a})
		reps, err := c.Replicas(ctx, MasterName).Result()
		_ = c.Close()
		if err != nil {
			return fmt.Errorf("sentinel %s: %v", a, err)
		}
		up := 0
		for _, r := range reps {
			if r["flags"] == "slave" {
				up++
			}
		}
		if up != n {
			return fmt.Errorf("sentinel %s sees %d of %d replicas up: %v", a, up, n, reps)
		}
	}
	return nil
}

// WaitSettled waits up to d for Settled and returns the master, or the last
// reason the group is not whole.
func (g *Sentinel) WaitSettled(d time.Duration) (*Server, error) {
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		m, err := g.Settled(ctx)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return m, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// What the Sentinels do about a master that is down or stopped (FailoverState).
const (
	FailoverNone    = "none"    // every Sentinel names it and none flags it down
	FailoverDone    = "done"    // they agree on another master, which every other server follows
	FailoverPending = "pending" // anything in between: flagged down, voting, promoting, reconfiguring
)

// FailoverState tells, while from (the master) is down or stopped, whether the
// Sentinels are failing it over. A master that comes back while a failover is
// pending is a split brain: it takes writes again, and a replica not yet moved to
// the promoted server confirms them (WAIT), until the Sentinels reconfigure both
// and those writes are gone.
func (g *Sentinel) FailoverState(ctx context.Context, from *Server) (string, error) {
	down := false
	for _, a := range g.Addrs {
		c := redis.NewSentinelClient(&redis.Options{Addr: a})
		m, err := c.Master(ctx, MasterName).Result()
		_ = c.Close()
		if err != nil {
			return FailoverPending, fmt.Errorf("sentinel %s: %v", a, err)
		}
		flags := m["flags"]
		if m["port"] != strconv.Itoa(from.port) || strings.Contains(flags, "down") || strings.Contains(flags, "failover") {
			down = true
		}
	}
	if !down {
		return FailoverNone, nil
	}
	addr, err := g.agreedMaster(ctx)
	if err != nil || addr == from.Addr {
		return FailoverPending, err
	}
	for _, s := range g.Servers() {
		if s == from || s.Addr == addr {
			continue
		}
		_, port, _ := net.SplitHostPort(addr)
		ri, err := s.do("INFO", "replication")
		if err != nil || !strings.Contains(ri, "master_link_status:up") || !strings.Contains(ri, "master_port:"+port+"\r") {
			return FailoverPending, fmt.Errorf("replica %s not following %s yet (%v)", s.Addr, addr, err)
		}
	}
	return FailoverDone, nil
}
