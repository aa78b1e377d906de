package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A worker process holds clients for the bench when one process cannot (20,000 open
// files at most here). It is `herald bench internal-worker`: the first line on its
// stdin is the GroupSpec, every further line a request; it answers each request with
// one line on stdout, and between answers sends {"op":"progress"} lines with its
// delivery count, every 20 ms, for the publisher's window.

type workerRequest struct {
	ID          int64  `json:"id"`
	Op          string `json:"op"` // connect, subscribe, tick, final, close
	Concurrency int    `json:"concurrency,omitempty"`
	Topic       string `json:"topic,omitempty"`
}

type workerReply struct {
	ID        int64           `json:"id,omitempty"`
	Op        string          `json:"op"` // reply or progress
	Err       string          `json:"err,omitempty"`
	Delivered int64           `json:"delivered,omitempty"`
	Body      json.RawMessage `json:"body,omitempty"`
}

// workerHello is the first line of a worker: the spec and options.
type workerHello struct {
	Spec       GroupSpec `json:"spec"`
	CPUProfile string    `json:"cpuprofile,omitempty"`
}

// runWorker is the worker process's main loop.
func runWorker(stdin io.Reader, stdout io.Writer) error {
	in := bufio.NewScanner(stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	if !in.Scan() {
		return errors.New("worker: no spec on stdin")
	}
	var hello workerHello
	if err := json.Unmarshal(in.Bytes(), &hello); err != nil {
		return fmt.Errorf("worker: spec: %w", err)
	}
	if hello.CPUProfile != "" {
		f, err := os.Create(hello.CPUProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	g, err := newLocalGroup(hello.Spec)
	if err != nil {
		return err
	}
	var wmu sync.Mutex
	enc := json.NewEncoder(stdout)
	send := func(r workerReply) error {
		wmu.Lock()
		defer wmu.Unlock()
		return enc.Encode(r)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		last := int64(-1)
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if d := g.Delivered(); d != last {
					last = d
					if send(workerReply{Op: "progress", Delivered: d}) != nil {
						return
					}
				}
			}
		}
	}()
	// Requests run concurrently (a tick must not wait for a long connect); each
	// answer carries its request's id. close is answered after the others.
	ctx := context.Background()
	var reqs sync.WaitGroup
	handle := func(req workerRequest) error {
		var body any
		var err error
		switch req.Op {
		case "connect":
			body, err = g.Connect(ctx, req.Concurrency)
		case "subscribe":
			err = g.Subscribe(req.Topic)
		case "tick":
			body, err = g.Tick()
		case "final":
			body, err = g.Final()
		case "close":
			err = g.Close()
		default:
			err = fmt.Errorf("unknown op %q", req.Op)
		}
		rep := workerReply{ID: req.ID, Op: "reply"}
		if err != nil {
			rep.Err = err.Error()
		}
		if body != nil {
			rep.Body, _ = json.Marshal(body)
		}
		return send(rep)
	}
	for in.Scan() {
		var req workerRequest
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			return fmt.Errorf("worker: request: %w", err)
		}
		if req.Op == "close" {
			reqs.Wait()
			return handle(req)
		}
		reqs.Add(1)
		go func() {
			defer reqs.Done()
			_ = handle(req)
		}()
	}
	reqs.Wait()
	_ = g.Close()
	return in.Err()
}

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
	w := &remoteGroup{name: name, cmd: cmd, stdin: stdin, pending: map[int64]chan workerReply{}, done: make(chan struct{}), logPath: logPath}
	go func() {
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
		_ = cmd.Wait()
	}()
	hello, _ := json.Marshal(workerHello{Spec: spec, CPUProfile: cpuprofile})
	if _, err := stdin.Write(append(hello, '\n')); err != nil {
		w.kill()
		return nil, err
	}
	return w, nil
}

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
