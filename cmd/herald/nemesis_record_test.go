package main

import (
	"bufio"
	"encoding/json"
	"os"
	"sync"
	"time"
)

// nemesisEvent is one line of the run record (JSON lines). Every part of the nemesis
// writes what it did or saw here, so that a loss can be explained from the record
// alone, after the run.
type nemesisEvent struct {
	T       int64  `json:"t"`  // milliseconds since the run started
	Ev      string `json:"ev"` // start, plan, fault, observe, publish, publish_fail, dial_fail, welcome, push, recovered, pause, close, leave, anomaly, heal, end
	User    string `json:"user,omitempty"`
	Node    string `json:"node,omitempty"`
	Session string `json:"session,omitempty"`
	Since   string `json:"since,omitempty"`  // the since a client connected with
	Offset  string `json:"offset,omitempty"` // welcome offset or push offset
	ID      string `json:"id,omitempty"`     // push id, or the ingress id of a publish
	Seq     int    `json:"seq,omitempty"`    // the publisher's sequence number (from 1)
	Dup     bool   `json:"dup,omitempty"`    // the client had already seen this id
	Late    bool   `json:"late,omitempty"`   // offset not above the session's previous push
	Code    int    `json:"code,omitempty"`   // close code
	Kind    string `json:"kind,omitempty"`   // fault kind, or what an observe event is about
	Detail  string `json:"detail,omitempty"`
}

// nemesisRecorder appends events to the record file. It flushes at least once a
// second so that a run killed by the go test timeout still leaves most of its record.
type nemesisRecorder struct {
	start time.Time
	path  string

	mu        sync.Mutex
	f         *os.File
	w         *bufio.Writer
	enc       *json.Encoder
	lastFlush time.Time
}

func newNemesisRecorder(path string, start time.Time) (*nemesisRecorder, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	return &nemesisRecorder{start: start, path: path, f: f, w: w, enc: json.NewEncoder(w), lastFlush: start}, nil
}

// since returns the run time of at, in milliseconds.
func (r *nemesisRecorder) since(at time.Time) int64 { return at.Sub(r.start).Milliseconds() }

// add records e at time at.
func (r *nemesisRecorder) add(at time.Time, e nemesisEvent) {
	e.T = r.since(at)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.enc == nil {
		return // closed: a straggler after the end of the run
	}
	_ = r.enc.Encode(e)
	if now := time.Now(); now.Sub(r.lastFlush) > time.Second {
		_ = r.w.Flush()
		r.lastFlush = now
	}
}

// now records e at the current time.
func (r *nemesisRecorder) now(e nemesisEvent) { r.add(time.Now(), e) }

func (r *nemesisRecorder) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w != nil {
		_ = r.w.Flush()
	}
}

func (r *nemesisRecorder) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.enc == nil {
		return
	}
	_ = r.w.Flush()
	_ = r.f.Close()
	r.enc, r.w = nil, nil
}

// readNemesisRecord calls keep for every event of the record file, in file order.
func readNemesisRecord(path string, keep func(nemesisEvent)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e nemesisEvent
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			keep(e)
		}
	}
	return sc.Err()
}
