package main

import (
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
)

// The fault tests run real herald processes, so that kill -9 and SIGTERM are what
// an operator would do. The binary is built once per test run.
var heraldBinary = testkit.Herald{Race: true}

// proc is one herald process on a fixed loopback port.
type proc struct {
	t    *testing.T
	id   string
	addr string
	args []string
	cmd  *exec.Cmd
	log  *testkit.SyncBuffer
	done chan struct{}
	err  error
}

// startProc runs `herald serve` as node id against redis, with extra flags.
func startProc(t *testing.T, redisAddrFlags []string, id string, flags ...string) *proc {
	t.Helper()
	p := &proc{t: t, id: id, addr: testkit.FreeAddr(t), log: &testkit.SyncBuffer{}}
	p.args = append([]string{"serve", "--node.id", id, "--server.addr", p.addr,
		"--auth.hmac_secret", testSecret, "--streams.block", "200ms", "--log.level", "info"}, redisAddrFlags...)
	p.args = append(p.args, flags...)
	p.start()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("log of %s:\n%s", p.id, p.log.String())
		}
	})
	return p
}

func (p *proc) start() {
	p.t.Helper()
	p.cmd = exec.Command(heraldBinary.Path(p.t), p.args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.done = make(chan struct{})
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	testkit.Eventually(p.t, 20*time.Second, func() error {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v\n%s", p.id, p.err, p.log.String())
		default:
		}
		res, err := http.Get("http://" + p.addr + "/readyz")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("readyz %d", res.StatusCode)
		}
		return nil
	})
}

// kill is kill -9; it waits for the process to be gone.
func (p *proc) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// terminate sends SIGTERM (drain) and returns how long the process took to exit.
func (p *proc) terminate(limit time.Duration) time.Duration {
	p.t.Helper()
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(limit):
		p.t.Fatalf("%s did not exit within %v after SIGTERM", p.id, limit)
	}
	return time.Since(start)
}

func (p *proc) node() *testNode {
	return &testNode{node: &node{ln: staticAddr(p.addr)}, t: p.t}
}

// staticAddr lets the in-process test helpers (dial, metricValue) target a process.
type staticAddr string

func (a staticAddr) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (a staticAddr) Close() error              { return nil }
func (a staticAddr) Addr() net.Addr            { return addrString(a) }

type addrString string

func (a addrString) Network() string { return "tcp" }
func (a addrString) String() string  { return string(a) }

func redisFlags(srv *redistest.Server) []string { return []string{"--redis.addr", srv.Addr} }
