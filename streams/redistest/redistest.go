package redistest

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/streams/redisserver"
)

const (
	readyTimeout = 5 * time.Second  // PING must answer within this after exec
	stopTimeout  = 10 * time.Second // graceful stop before falling back to SIGKILL
	startTries   = 5                // fresh ports tried when a port was taken
)

// Options configures a Server. The zero value is a plain, non-persistent server.
type Options struct {
	AppendOnly bool     // appendonly yes, appendfsync everysec (for restart tests)
	Password   string   // requirepass
	Args       []string // extra redis-server args, e.g. {"--maxmemory", "10mb"}
}

// Server is one throw-away redis-server process on 127.0.0.1:<free port>.
type Server struct {
	Addr string // "127.0.0.1:<port>"

	opts     Options
	bin      string
	dir      string
	logPath  string
	port     int
	busPort  int // cluster bus port; 0 when not a cluster node
	password string
	// sentinelConf set: a Sentinel (redis-server <conf> --sentinel), not a server.
	sentinelConf string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd has exited and been reaped
}

// Start starts a redis-server on a free loopback port with its data dir in
// tb.TempDir(), waits until it answers PING and registers tb.Cleanup(s.Stop).
// It calls tb.Fatal (with the tail of the redis log) on any failure,
// including redis-server not being installed.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	return start(tb, opts, false)
}

func start(tb testing.TB, opts Options, cluster bool) *Server {
	tb.Helper()
	bin, err := ServerBinary()
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{opts: opts, bin: bin, dir: tb.TempDir(), password: opts.Password}
	s.logPath = filepath.Join(s.dir, "redis.log")
	// Registered after TempDir, so it runs before the dir is removed.
	tb.Cleanup(s.Stop)

	if err := s.launchOnFreePort(cluster); err != nil {
		tb.Fatalf("redistest: starting %s: %v", bin, err)
	}
	return s
}

// launchOnFreePort launches s on free ports, trying fresh ones when a port was
// taken meanwhile.
func (s *Server) launchOnFreePort(cluster bool) error {
	var lastErr error
	for try := 0; try < startTries; try++ {
		var err error
		if s.port, s.busPort, err = freePorts(cluster); err != nil {
			return fmt.Errorf("picking a free port: %w", err)
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		retry, err := s.launch()
		if err == nil {
			return nil
		}
		lastErr = err
		if !retry {
			break
		}
	}
	return lastErr
}

// ServerBinary returns the redis-server to use (redisserver.Binary).
func ServerBinary() (string, error) {
	bin, err := redisserver.Binary()
	if err != nil {
		return "", fmt.Errorf("redistest: %w", err)
	}
	return bin, nil
}

// freePorts picks a free loopback port (and a second one for the cluster
// bus). The ports are released before redis binds them, so a race with
// another process is possible; start retries on "address in use".
func freePorts(cluster bool) (port, bus int, err error) {
	if port, err = redisserver.FreePort(); err != nil || !cluster {
		return port, 0, err
	}
	for bus == 0 || bus == port {
		if bus, err = redisserver.FreePort(); err != nil {
			return 0, 0, err
		}
	}
	return port, bus, nil
}

func (s *Server) args() []string {
	if s.sentinelConf != "" {
		return s.sentinelArgs()
	}
	aof := "no"
	if s.opts.AppendOnly {
		aof = "yes"
	}
	a := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", aof,
		"--dir", s.dir,
		"--daemonize", "no",
		"--protected-mode", "no",
		"--logfile", "", // log to stdout, which goes to redis.log
		// The value docs/OPERATIONS.md recommends, so that the tests run Herald on
		// the Redis operators are told to run (Options.Args may override it).
		"--stream-node-max-bytes", strconv.Itoa(redisserver.RecommendedStreamNodeMaxBytes),
	}
	if s.opts.AppendOnly {
		a = append(a, "--appendfsync", "everysec")
	}
	if s.password != "" {
		a = append(a, "--requirepass", s.password)
	}
	if s.busPort != 0 {
		a = append(a,
			"--cluster-enabled", "yes",
			"--cluster-port", strconv.Itoa(s.busPort),
			"--cluster-config-file", "nodes.conf", // relative to --dir
			"--cluster-node-timeout", "5000",
		)
	}
	return append(a, s.opts.Args...)
}

// launch execs redis-server on s.port and waits for PING. retry reports
// whether the failure looks like the port being taken.
func (s *Server) launch() (retry bool, err error) {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return false, err
	}
	defer logf.Close() // the child has its own copy
	off, _ := logf.Seek(0, io.SeekEnd)
	fmt.Fprintf(logf, "### redistest: %s %q\n", s.bin, s.args())

	cmd := exec.Command(s.bin, s.args()...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return false, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()

	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-done:
			tail := s.logSince(off)
			return strings.Contains(tail, "already in use"),
				fmt.Errorf("redis-server on port %d exited during startup (%v); log %s:\n%s",
					s.port, cmd.ProcessState, s.logPath, tail)
		default:
		}
		if s.isOurs(cmd.Process.Pid) {
			return false, nil
		}
		if time.Now().After(deadline) {
			s.Kill()
			return false, fmt.Errorf("redis-server on port %d did not answer PING within %v; log %s:\n%s",
				s.port, readyTimeout, s.logPath, s.logSince(off))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logSince returns the last 30 lines written to the log after offset off.
func (s *Server) logSince(off int64) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if off > 0 && off <= int64(len(b)) {
		b = b[off:]
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// LogTail returns the last lines of the server's log (for failure messages).
func (s *Server) LogTail() string { return s.logSince(0) }

// Dir returns the server's data directory (a tb.TempDir()).
func (s *Server) Dir() string { return s.dir }

// Port returns the server's TCP port.
func (s *Server) Port() int { return s.port }

// running returns the current process' done channel, or nil if none is running.
func (s *Server) running() (*exec.Cmd, chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil, nil
	}
	select {
	case <-s.done:
		return nil, nil
	default:
		return s.cmd, s.done
	}
}

// Stop shuts the server down gracefully with SIGTERM (redis then flushes
// the AOF and exits, saving no RDB because of --save "") and waits for the
// process to exit. Only if it hangs for 10 s is it SIGKILLed. Idempotent;
// safe to call after Kill.
func (s *Server) Stop() {
	cmd, done := s.running()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(stopTimeout):
		s.Kill()
	}
}

// Kill sends SIGKILL to the server's process group (kill -9, so no AOF
// flush on exit) and waits for it to exit. Idempotent.
func (s *Server) Kill() {
	cmd, done := s.running()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Restart starts redis-server again on the same port and with the same dir
// and options (a still running server is stopped first). With AppendOnly
// the data survives Stop and Kill. It waits until PING answers and calls
// tb.Fatal on failure.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.Stop()
	var err error
	// The port may briefly still be held (e.g. by a just-killed child); retry.
	for deadline := time.Now().Add(readyTimeout); ; time.Sleep(100 * time.Millisecond) {
		var retry bool
		if retry, err = s.launch(); err == nil {
			return
		}
		if !retry || time.Now().After(deadline) {
			break
		}
	}
	tb.Fatalf("redistest: restarting redis-server on %s: %v", s.Addr, err)
}

// Client returns a new go-redis client for the server (with its password),
// closed by tb.Cleanup. Because cleanups run last-in first-out, the client
// is closed before the server it was created from is stopped.
func (s *Server) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Password: s.password})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// isOurs reports whether s.Addr answers (the readiness "PING") and is
// served by process pid, not by some other server that won a port race.
// It uses a raw connection: no client library, no goroutines left behind.
// (INFO answers while an AOF is still loading, PING does not.)
func (s *Server) isOurs(pid int) bool {
	if _, err := s.do("PING"); err != nil {
		return false
	}
	info, err := s.do("INFO", "server")
	return err == nil && strings.Contains(info, "\nprocess_id:"+strconv.Itoa(pid)+"\r\n")
}

// do sends one command with a tiny RESP client (redisserver.Do), after AUTH when
// a password is set.
func (s *Server) do(args ...string) (string, error) {
	return redisserver.Do(s.Addr, s.password, args...)
}

// Cluster is a 3-master Redis Cluster (no replicas) of throw-away servers.
type Cluster struct {
	Addrs []string  // "127.0.0.1:<port>" of each master
	Nodes []*Server // the masters; each can be Kill()ed / Restart()ed
}

// StartCluster starts three cluster-enabled redis-servers on free loopback
// ports, joins them with `redis-cli --cluster create ... --cluster-replicas 0
// --cluster-yes` and waits until CLUSTER INFO reports cluster_state:ok on
// every node. Each node is stopped by its own tb.Cleanup.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	return StartClusterWith(tb, Options{})
}

// StartClusterWith is StartCluster with options for every master (e.g.
// AppendOnly, so that a master killed with -9 restarts from its AOF).
func StartClusterWith(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	c := &Cluster{}
	for i := 0; i < 3; i++ {
		n := start(tb, opts, true)
		c.Nodes = append(c.Nodes, n)
		c.Addrs = append(c.Addrs, n.Addr)
	}
	c.create(tb, 0)
	c.waitOK(tb, c.Nodes, 30*time.Second)
	return c
}

// create joins c.Nodes with `redis-cli --cluster create`, giving each master
// replicas replicas (the first len/(replicas+1) addresses are the masters).
func (c *Cluster) create(tb testing.TB, replicas int) {
	tb.Helper()
	cli, err := redisserver.Find("redis-cli", c.Nodes[0].bin)
	if err != nil {
		tb.Fatal("redistest: redis-cli not found (needed by StartCluster; Debian package redis-tools, pulled in by redis-server)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("redistest: %s %s: %v\n%s", cli, strings.Join(args, " "), err, out)
	}
}

// waitOK waits until every node in nodes reports cluster_state:ok and knows all
// of c.Nodes.
func (c *Cluster) waitOK(tb testing.TB, nodes []*Server, d time.Duration) {
	tb.Helper()
	known := "cluster_known_nodes:" + strconv.Itoa(len(c.Nodes)) + "\r\n"
	deadline := time.Now().Add(d)
	for _, n := range nodes {
		for {
			info, err := n.do("CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, known) {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("redistest: cluster node %s not ok after %v (err=%v):\n%s\nlog:\n%s",
					n.Addr, d, err, info, n.LogTail())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// Client returns a go-redis ClusterClient for the cluster, closed by tb.Cleanup.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	tb.Cleanup(func() { _ = cc.Close() })
	return cc
}
