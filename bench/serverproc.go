package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The server processes the bench starts: herald nodes and the baseline server,
// each a child process of this executable with its output in a log file.

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
	p, err := launchProc(name, bin, args, addr, logPath)
	if err != nil {
		return nil, err
	}
	if err := p.waitReady(ctx, "http://"+addr+readyPath, 30*time.Second); err != nil {
		return nil, err
	}
	return p, nil
}

// launchProc starts bin args with output to logPath; the process dies with the
// bench (Pdeathsig).
func launchProc(name, bin string, args []string, addr, logPath string) (*serverProc, error) {
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
	return p, nil
}

// waitReady polls url until it answers 200; the process is killed when it does
// not within timeout or ctx ends, and an exit is reported with its log's tail.
func (p *serverProc) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited during startup (%v); log %s:\n%s", p.name, p.cmd.ProcessState, p.logPath, tailFile(p.logPath, 0, 20))
		case <-ctx.Done():
			p.Kill()
			return ctx.Err()
		default:
		}
		if res, err := http.Get(url); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			p.Kill()
			return fmt.Errorf("%s not ready within %v; log %s:\n%s", p.name, timeout, p.logPath, tailFile(p.logPath, 0, 20))
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
