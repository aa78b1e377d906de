package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
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

// runWorker is the worker process's main loop: the spec, then requests until
// stdin closes or a close request.
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
		stop, err := startCPUProfile(hello.CPUProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	g, err := newLocalGroup(hello.Spec)
	if err != nil {
		return err
	}
	w := &worker{g: g, enc: json.NewEncoder(stdout)}
	stop := make(chan struct{})
	defer close(stop)
	go w.progress(stop)
	return w.serve(in)
}

// worker is the worker process's side: its clients and its replies.
type worker struct {
	g   group
	mu  sync.Mutex // one line at a time on stdout
	enc *json.Encoder
}

func (w *worker) send(r workerReply) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.enc.Encode(r)
}

// progress sends the delivery count every 20 ms when it changed, until stop.
func (w *worker) progress(stop <-chan struct{}) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	last := int64(-1)
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if d := w.g.Delivered(); d != last {
				last = d
				if w.send(workerReply{Op: "progress", Delivered: d}) != nil {
					return
				}
			}
		}
	}
}

// serve runs the requests concurrently (a tick must not wait for a long connect);
// each answer carries its request's id. close is answered after the others, and
// ends the loop.
func (w *worker) serve(in *bufio.Scanner) error {
	ctx := context.Background()
	var reqs sync.WaitGroup
	for in.Scan() {
		var req workerRequest
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			return fmt.Errorf("worker: request: %w", err)
		}
		if req.Op == "close" {
			reqs.Wait()
			return w.handle(ctx, req)
		}
		reqs.Add(1)
		go func() {
			defer reqs.Done()
			_ = w.handle(ctx, req)
		}()
	}
	reqs.Wait()
	_ = w.g.Close()
	return in.Err()
}

// handle runs one request and sends its reply.
func (w *worker) handle(ctx context.Context, req workerRequest) error {
	body, err := w.do(ctx, req)
	rep := workerReply{ID: req.ID, Op: "reply"}
	if err != nil {
		rep.Err = err.Error()
	}
	if body != nil {
		rep.Body, _ = json.Marshal(body)
	}
	return w.send(rep)
}

func (w *worker) do(ctx context.Context, req workerRequest) (body any, err error) {
	switch req.Op {
	case "connect":
		return w.g.Connect(ctx, req.Concurrency)
	case "subscribe":
		return nil, w.g.Subscribe(req.Topic)
	case "tick":
		return w.g.Tick()
	case "final":
		return w.g.Final()
	case "close":
		return nil, w.g.Close()
	default:
		return nil, fmt.Errorf("unknown op %q", req.Op)
	}
}
