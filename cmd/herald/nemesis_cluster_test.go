package main

import (
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/testkit"
)

// nemesisNodeState is what the nemesis did to a node last; clients connect to "up"
// nodes only, as a load balancer with health checks would send them.
type nemesisNodeState int

const (
	nodeUp nemesisNodeState = iota
	nodeKilled
	nodeStopped
)

// nemesisNode is one `herald serve` process with a fixed node id and port. Unlike
// proc it never calls t.Fatal (restarts happen while clients and the publisher run),
// it can be SIGSTOPped, and its log goes to a file kept with the run record.
type nemesisNode struct {
	id   string
	addr string
	bin  string
	args []string
	logf *os.File

	mu    sync.Mutex
	state nemesisNodeState
	cmd   *exec.Cmd
	done  chan struct{}
	err   error
}

// nemesisHTTP checks readiness without keep-alive, so that no idle connection
// goroutine outlives the test (goleak in TestMain).
var nemesisHTTP = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func newNemesisNode(t *testing.T, bin, id, logDir string, flags []string) *nemesisNode {
	t.Helper()
	logf, err := os.Create(filepath.Join(logDir, id+".log"))
	if err != nil {
		t.Fatal(err)
	}
	n := &nemesisNode{id: id, addr: testkit.FreeAddr(t), bin: bin, logf: logf}
	n.args = append([]string{"serve", "--node.id", id, "--server.addr", n.addr,
		"--auth.hmac_secret", testSecret, "--streams.block", "200ms", "--log.level", "info"}, flags...)
	t.Cleanup(func() {
		n.kill()
		_ = n.logf.Close()
	})
	return n
}

// start execs the node and waits until /readyz answers 200.
func (n *nemesisNode) start(ready time.Duration) error {
	cmd := exec.Command(n.bin, n.args...)
	cmd.Stdout, cmd.Stderr = n.logf, n.logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	fmt.Fprintf(n.logf, "### nemesis: start %s at %s\n", n.id, time.Now().Format(time.RFC3339Nano))
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.done, n.err = cmd, done, nil
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		n.mu.Lock()
		n.err = err
		n.mu.Unlock()
		close(done)
	}()
	deadline := time.Now().Add(ready)
	for {
		select {
		case <-done:
			return fmt.Errorf("%s exited during start: %v", n.id, n.exitErr())
		default:
		}
		if err := nemesisReady(n.addr); err == nil {
			n.setState(nodeUp)
			return nil
		} else if time.Now().After(deadline) {
			n.dumpStacks(done)
			return fmt.Errorf("%s not ready within %v: %v (goroutines in its log)", n.id, ready, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dumpStacks asks a node that does not get ready for its goroutines (SIGQUIT:
// the Go runtime writes them to the node's log and exits), so that the log says
// where its start hangs; the caller kills it if it is still there.
func (n *nemesisNode) dumpStacks(done <-chan struct{}) {
	fmt.Fprintf(n.logf, "### nemesis: %s not ready, SIGQUIT at %s\n", n.id, time.Now().Format(time.RFC3339Nano))
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-done:
	case <-time.After(3 * time.Second):
	}
}

func nemesisReady(addr string) error {
	res, err := nemesisHTTP.Get("http://" + addr + "/readyz")
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz %d", res.StatusCode)
	}
	return nil
}

// kill is kill -9 (also of a stopped process); it waits for the process to be gone.
func (n *nemesisNode) kill() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.state = nodeKilled
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

func (n *nemesisNode) signal(sig syscall.Signal, state nemesisNodeState) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		_ = n.cmd.Process.Signal(sig)
	}
	n.state = state
}

func (n *nemesisNode) setState(s nemesisNodeState) {
	n.mu.Lock()
	n.state = s
	n.mu.Unlock()
}

// exited reports whether the process ended although the nemesis did not kill it:
// a crash of herald itself.
func (n *nemesisNode) exited() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.done == nil || n.state == nodeKilled {
		return false
	}
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

func (n *nemesisNode) exitErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err
}

func (n *nemesisNode) isUp() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.state == nodeUp
}

// nemesisCluster is the system under test: the Redis topology and the herald nodes.
type nemesisCluster struct {
	redis nemesisRedis
	nodes []*nemesisNode
}

// pick returns a random node that is up, or any node when none is.
func (c *nemesisCluster) pick(rng *rand.Rand) *nemesisNode {
	var up []*nemesisNode
	for _, n := range c.nodes {
		if n.isUp() {
			up = append(up, n)
		}
	}
	if len(up) == 0 {
		up = c.nodes
	}
	return up[rng.Intn(len(up))]
}

// nemesisBinary builds herald into dir, with the race detector only when the test
// itself runs with it: long runs without -race leave the two cores to the system
// under test.
func nemesisBinary(t *testing.T, dir string) string {
	t.Helper()
	if nemesisRace {
		return heraldBinary.Path(t) // the fault tests' binary, built once per test run
	}
	path, err := testkit.BuildHerald(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	return path
}
