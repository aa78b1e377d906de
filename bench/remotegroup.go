package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// remoteGroup is the bench's side of a worker process.
type remoteGroup struct {
	name      string
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	delivered atomic.Int64
	mu        sync.Mutex // guards the requests' writes, nextID and pending
	nextID    int64
	pending   map[int64]chan workerReply
	done      chan struct{}
	logPath   string
}

// startWorker starts `bin bench internal-worker` for spec.
func startWorker(bin, name string, spec GroupSpec, logPath, cpuprofile string) (*remoteGroup, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "bench", "internal-worker")
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := newRemoteGroup(name, stdin, logPath)
	w.cmd = cmd
	go w.readReplies(stdout, func() { _ = cmd.Wait() })
	hello, _ := json.Marshal(workerHello{Spec: spec, CPUProfile: cpuprofile})
	if _, err := stdin.Write(append(hello, '\n')); err != nil {
		w.kill()
		return nil, err
	}
	return w, nil
}

// newRemoteGroup is the bench's side of a worker whose requests go to stdin.
func newRemoteGroup(name string, stdin io.WriteCloser, logPath string) *remoteGroup {
	return &remoteGroup{name: name, stdin: stdin, pending: map[int64]chan workerReply{}, done: make(chan struct{}), logPath: logPath}
}

// readReplies hands each reply on the worker's stdout to its caller and keeps the
// latest progress, until stdout ends; then it calls wait (for the process) and
// marks the worker done.
func (w *remoteGroup) readReplies(stdout io.Reader, wait func()) {
	defer close(w.done)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var r workerReply
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		if r.Op == "progress" {
			w.delivered.Store(r.Delivered)
			continue
		}
		w.mu.Lock()
		ch := w.pending[r.ID]
		delete(w.pending, r.ID)
		w.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
	wait()
}

// call sends a request and waits for its reply, or for the worker's end.
func (w *remoteGroup) call(req workerRequest, out any) error {
	ch := make(chan workerReply, 1)
	w.mu.Lock()
	w.nextID++
	req.ID = w.nextID
	w.pending[req.ID] = ch
	b, _ := json.Marshal(req)
	_, err := w.stdin.Write(append(b, '\n'))
	w.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w (log %s: %s)", w.name, err, w.logPath, tailFile(w.logPath, 0, 5))
	}
	select {
	case r := <-ch:
		if r.Err != "" {
			return fmt.Errorf("%s: %s", w.name, r.Err)
		}
		if out != nil && len(r.Body) > 0 {
			return json.Unmarshal(r.Body, out)
		}
		return nil
	case <-w.done:
		return fmt.Errorf("%s exited (log %s: %s)", w.name, w.logPath, tailFile(w.logPath, 0, 5))
	}
}

func (w *remoteGroup) Connect(ctx context.Context, concurrency int) (ConnectResult, error) {
	var r ConnectResult
	err := w.call(workerRequest{Op: "connect", Concurrency: concurrency}, &r)
	return r, err
}

func (w *remoteGroup) Subscribe(topic string) error {
	return w.call(workerRequest{Op: "subscribe", Topic: topic}, nil)
}

func (w *remoteGroup) Tick() (Tick, error) {
	var t Tick
	err := w.call(workerRequest{Op: "tick"}, &t)
	return t, err
}

func (w *remoteGroup) Final() (Final, error) {
	var f Final
	err := w.call(workerRequest{Op: "final"}, &f)
	return f, err
}

func (w *remoteGroup) Delivered() int64 { return w.delivered.Load() }

// Close closes the worker's clients and waits for the process to exit.
func (w *remoteGroup) Close() error {
	err := w.call(workerRequest{Op: "close"}, nil)
	_ = w.stdin.Close()
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		w.kill()
	}
	return err
}

func (w *remoteGroup) kill() {
	_ = w.cmd.Process.Kill()
	<-w.done
}
