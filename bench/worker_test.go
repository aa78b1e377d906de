package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/testkit"
)

// workerLines runs w.serve over the given request lines and returns its replies,
// progress lines left out.
func workerLines(t *testing.T, g group, lines ...string) ([]workerReply, error) {
	t.Helper()
	var out testkit.SyncBuffer
	w := &worker{g: g, enc: json.NewEncoder(&out)}
	in := bufio.NewScanner(strings.NewReader(strings.Join(lines, "\n") + "\n"))
	err := w.serve(in)
	var replies []workerReply
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if l == "" {
			continue
		}
		var r workerReply
		if json.Unmarshal([]byte(l), &r) != nil {
			t.Fatalf("not a reply: %q", l)
		}
		replies = append(replies, r)
	}
	return replies, err
}

// Each request is answered once, by id, with its body or error; close comes last.
func TestWorkerServe(t *testing.T) {
	g := &fakeGroup{conn: ConnectResult{Connected: 4}, tick: Tick{Distinct: 9}, final: Final{Tick: Tick{Distinct: 10}, Latency: "L"}}
	replies, err := workerLines(t, g,
		`{"id":1,"op":"connect","concurrency":8}`, `{"id":2,"op":"tick"}`, `{"id":3,"op":"subscribe","topic":"news"}`,
		`{"id":4,"op":"final"}`, `{"id":5,"op":"dance"}`, `{"id":6,"op":"close"}`, `{"id":7,"op":"tick"}`)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]workerReply{}
	for _, r := range replies {
		if r.Op != "reply" {
			t.Errorf("reply %+v", r)
		}
		byID[r.ID] = r
	}
	if len(replies) != 6 || replies[5].ID != 6 {
		t.Fatalf("replies %+v: want 6, close last, nothing after it", replies)
	}
	var cr ConnectResult
	var tk Tick
	var f Final
	if json.Unmarshal(byID[1].Body, &cr) != nil || cr.Connected != 4 {
		t.Errorf("connect reply %s", byID[1].Body)
	}
	if json.Unmarshal(byID[2].Body, &tk) != nil || tk.Distinct != 9 {
		t.Errorf("tick reply %s", byID[2].Body)
	}
	if len(byID[3].Body) != 0 || byID[3].Err != "" || g.subscribed.Load() != 1 {
		t.Errorf("subscribe reply %+v", byID[3])
	}
	if json.Unmarshal(byID[4].Body, &f) != nil || f.Distinct != 10 || f.Latency != "L" {
		t.Errorf("final reply %s", byID[4].Body)
	}
	if byID[5].Err != `unknown op "dance"` {
		t.Errorf("unknown op: %+v", byID[5])
	}
	if g.closed.Load() != 1 {
		t.Errorf("closed %d times", g.closed.Load())
	}
}

// A group's error goes back in the reply; stdin's end closes the group.
func TestWorkerServeErrorsAndEOF(t *testing.T) {
	g := &fakeGroup{err: errors.New("boom")}
	replies, err := workerLines(t, g, `{"id":1,"op":"tick"}`)
	if err != nil || len(replies) != 1 || replies[0].Err != "boom" || g.closed.Load() != 1 {
		t.Errorf("replies %+v, %v, closed %d", replies, err, g.closed.Load())
	}
	if _, err := workerLines(t, &fakeGroup{}, `{"id":1,`); err == nil || !strings.HasPrefix(err.Error(), "worker: request: ") {
		t.Errorf("a bad request line: %v", err)
	}
}

// The worker reports its deliveries every 20 ms, when they changed.
func TestWorkerProgress(t *testing.T) {
	var out testkit.SyncBuffer
	g := &fakeGroup{delivered: 42}
	w := &worker{g: g, enc: json.NewEncoder(&out)}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); w.progress(stop) }()
	time.Sleep(100 * time.Millisecond)
	close(stop)
	<-done
	if got := out.String(); got != `{"op":"progress","delivered":42}`+"\n" {
		t.Errorf("progress lines %q: want one, the count did not change", got)
	}
}

func TestRunWorkerRefusesBadSpecs(t *testing.T) {
	for in, want := range map[string]string{
		"":                            "worker: no spec on stdin",
		"{\n":                         "worker: spec: ",
		`{"spec":{"count":0}}` + "\n": "bench: empty client group",
		`{"spec":{"count":1,"urls":["x"]},"cpuprofile":"/nonexistent/dir/p"}` + "\n": "no such file",
	} {
		err := runWorker(strings.NewReader(in), io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("runWorker(%q) = %v, want %q", in, err, want)
		}
	}
}

// The bench's side and a worker's, in one process over pipes: every request and
// the progress go through the real protocol.
func TestRemoteGroupTalksToAWorker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	reqR, reqW := io.Pipe()
	repR, repW := io.Pipe()
	workerDone := make(chan error, 1)
	go func() {
		err := runWorker(reqR, repW)
		repW.Close()
		workerDone <- err
	}()
	w := newRemoteGroup("worker 0", reqW, t.TempDir()+"/w.log")
	go w.readReplies(repR, func() {})
	spec := GroupSpec{URLs: []string{"ws://" + addr + "/ws"}, Count: 2, Total: 2, UserPrefix: "u", Mode: modeUnicast, Secret: "s",
		DialTimeoutNs: int64(200 * time.Millisecond)}
	hello, _ := json.Marshal(workerHello{Spec: spec})
	if _, err := reqW.Write(append(hello, '\n')); err != nil {
		t.Fatal(err)
	}
	cr, err := w.Connect(context.Background(), 2)
	if err != nil || cr.Failed != 2 || cr.Connected != 0 || cr.FirstError == "" {
		t.Errorf("connect %+v %v", cr, err)
	}
	if tk, err := w.Tick(); err != nil || tk.Connected != 0 || tk.At == 0 {
		t.Errorf("tick %+v %v", tk, err)
	}
	if f, err := w.Final(); err != nil || f.Latency == "" {
		t.Errorf("final %+v %v", f, err)
	}
	if err := w.Subscribe("news"); err != nil {
		t.Errorf("subscribe: %v", err)
	}
	if w.Delivered() != 0 {
		t.Errorf("delivered %d", w.Delivered())
	}
	if err := w.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := <-workerDone; err != nil {
		t.Errorf("worker: %v", err)
	}
	// The worker is gone: a call says so, with its log.
	if _, err := w.Tick(); err == nil || !strings.Contains(err.Error(), "worker 0") {
		t.Errorf("a call to a gone worker: %v", err)
	}
}

// Replies that are not JSON are skipped; one for no caller is dropped.
func TestRemoteGroupSkipsJunk(t *testing.T) {
	r, wr := io.Pipe()
	var sent testkit.SyncBuffer
	g := newRemoteGroup("w", nopCloser{&sent}, "")
	go g.readReplies(r, func() {})
	type res struct {
		tk  Tick
		err error
	}
	got := make(chan res, 1)
	go func() { tk, err := g.Tick(); got <- res{tk, err} }()
	for !strings.Contains(sent.String(), `"op":"tick"`) {
		time.Sleep(time.Millisecond)
	}
	io.WriteString(wr, "junk\n"+`{"id":99,"op":"reply"}`+"\n"+`{"op":"progress","delivered":7}`+"\n"+`{"id":1,"op":"reply","body":{"distinct":5}}`+"\n")
	if r := <-got; r.err != nil || r.tk.Distinct != 5 || g.Delivered() != 7 {
		t.Errorf("tick %+v, delivered %d", r, g.Delivered())
	}
	wr.Close()
	<-g.done
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// A worker binary that exits at once: its calls fail, naming it and its log.
func TestStartWorkerThatExits(t *testing.T) {
	logPath := t.TempDir() + "/w.log"
	if _, err := startWorker("/nonexistent/herald", "w", GroupSpec{}, logPath, ""); err == nil {
		t.Error("a missing binary started")
	}
	w, err := startWorker("/bin/cat", "client worker 0", GroupSpec{}, logPath, "") // cat: bench: no such file
	if err != nil {
		t.Skipf("the hello could not be written before cat exited: %v", err)
	}
	<-w.done
	if _, err := w.Tick(); err == nil || !strings.HasPrefix(err.Error(), "client worker 0") || !strings.Contains(err.Error(), "bench") {
		t.Errorf("a call to an exited worker: %v", err)
	}
	if err := w.Close(); err == nil {
		t.Error("closing an exited worker succeeded")
	}
	if pids := (&clientPool{groups: []group{w}}).pids(); len(pids) != 2 || pids[1] != w.cmd.Process.Pid {
		t.Errorf("pids %v", pids)
	}
}
