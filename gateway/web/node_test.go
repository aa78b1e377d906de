package web_test

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/testkit"
)

// The herald process of the browser tests: a real node on a real redis-server.

type heraldProc struct {
	bin, addr string
	args      []string
	log       *testkit.SyncBuffer
	cmd       *exec.Cmd
	done      chan struct{}
}

func startNode(t *testing.T, bin, redisAddr string) *heraldProc {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	n := &heraldProc{bin: bin, addr: addr, log: &testkit.SyncBuffer{}}
	n.args = []string{"serve", "--redis.addr", redisAddr, "--auth.hmac_secret", testSecret,
		"--server.addr", addr, "--node.id", "n1", "--streams.block", "200ms",
		"--limits.max_sessions_per_user", "2", "--shutdown.timeout", "5s"}
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("herald log:\n%s", n.log.String())
		}
	})
	n.start(t)
	return n
}

func (n *heraldProc) wsURL() string { return "ws://" + n.addr + "/ws" }

// start runs the node (again, on the same port) and waits for /readyz.
func (n *heraldProc) start(t *testing.T) {
	t.Helper()
	n.cmd = exec.Command(n.bin, n.args...)
	n.cmd.Env = nodeEnv()
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	n.done = done
	go func(c *exec.Cmd) {
		_ = c.Wait()
		close(done)
	}(n.cmd)
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("herald exited at start:\n%s", n.log.String())
		default:
		}
		res, err := http.Get("http://" + n.addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("herald not ready in 20 s (%v):\n%s", err, n.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ensureRunning starts the node when it is not running.
func (n *heraldProc) ensureRunning(t *testing.T) {
	select {
	case <-n.done:
		n.start(t)
	default:
	}
}

// kill is kill -9.
func (n *heraldProc) kill() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

// terminate is SIGTERM: the node drains.
func (n *heraldProc) terminate(t *testing.T) {
	t.Helper()
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(15 * time.Second):
		t.Fatal("herald did not exit within 15 s of SIGTERM")
	}
}

// nodeEnv is this process's environment without HERALD_* variables: the node
// reads its configuration from them and refuses unknown ones.
func nodeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			env = append(env, kv)
		}
	}
	return env
}
