package loglimit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// lines is a JSON log written by several goroutines.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// records decodes every line.
func (l *lines) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

func count(recs []map[string]any, msg string) int {
	n := 0
	for _, r := range recs {
		if r["msg"] == msg {
			n++
		}
	}
	return n
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// A flood of one kind passes its burst, then its rate, and the rest is reported
// as one count per report interval, at the flood's level; another kind is not
// held back by it.
func TestAFloodIsLimitedAndCounted(t *testing.T) {
	defer goleak.VerifyNone(t)
	out := &lines{}
	clock := &fakeClock{now: time.Unix(1700000000, 0)}
	h := New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}),
		Config{Burst: 5, PerSecond: 2, Report: 50 * time.Millisecond, Now: clock.Now})
	log := slog.New(h).With("node", "n1")
	for i := range 1000 {
		log.Info("dead letter", "id", i)
	}
	log.Warn("other kind")
	clock.add(time.Second) // two more tokens
	for i := range 1000 {
		log.Info("dead letter", "id", 1000+i)
	}
	var recs []map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs = out.records(t)
		if count(recs, SuppressedMsg) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.Close()
	recs = out.records(t)
	if n := count(recs, "dead letter"); n != 7 {
		t.Fatalf("%d dead letter lines of 2000, want 7 (a burst of 5, then 2 a second for the second that passed)", n)
	}
	if count(recs, "other kind") != 1 {
		t.Fatal("a line of another kind was held back by the flood")
	}
	suppressed := 0
	for _, r := range recs {
		if r["msg"] == SuppressedMsg {
			if r["like"] != "dead letter" || r["level"] != "INFO" || r["node"] != "n1" {
				t.Fatalf("report %v, want like=dead letter at INFO with the logger's attributes", r)
			}
			suppressed += int(r["count"].(float64))
		}
	}
	if suppressed != 2000-7 {
		t.Fatalf("reports count %d suppressed lines, want %d", suppressed, 2000-7)
	}
}

// Close reports what no timer reported yet, and nothing is written after it.
func TestCloseReportsTheRest(t *testing.T) {
	defer goleak.VerifyNone(t)
	out := &lines{}
	h := New(slog.NewJSONHandler(out, nil), Config{Burst: 1, PerSecond: 0.001, Report: time.Hour})
	log := slog.New(h)
	for range 10 {
		log.Info("session closed")
	}
	h.Close()
	recs := out.records(t)
	if count(recs, "session closed") != 1 || count(recs, SuppressedMsg) != 1 || recs[1]["count"] != float64(9) {
		t.Fatalf("log %v, want one line and a count of 9", recs)
	}
	log.Info("session closed") // limited still, and not reported: nothing runs any more
	if n := len(out.records(t)); n != 2 {
		t.Fatalf("%d lines after Close, want 2", n)
	}
}

// Messages past maxKinds share one bucket, so that messages built from input
// cannot grow the buckets or escape the limit.
func TestKindsAreBounded(t *testing.T) {
	out := &lines{}
	h := New(slog.NewJSONHandler(out, nil), Config{Burst: 1, PerSecond: 0.001, Report: time.Hour})
	log := slog.New(h)
	for i := range 3 * maxKinds {
		log.Info(fmt.Sprintf("message %d", i))
	}
	h.Close()
	if len(h.st.kinds) != maxKinds+1 {
		t.Fatalf("%d buckets, want %d", len(h.st.kinds), maxKinds+1)
	}
	recs := out.records(t)
	if n := len(recs) - count(recs, SuppressedMsg); n != maxKinds+1 {
		t.Fatalf("%d lines passed, want one per bucket (%d)", n, maxKinds+1)
	}
}

// A level the wrapped handler drops is dropped before any bucket is touched.
func TestDisabledLevelsCostNoToken(t *testing.T) {
	out := &lines{}
	h := New(slog.NewJSONHandler(out, nil), Config{Burst: 1, PerSecond: 0.001})
	defer h.Close()
	log := slog.New(h)
	log.Debug("session opened")
	log.Info("session opened")
	if count(out.records(t), "session opened") != 1 {
		t.Fatal("a dropped debug line used the bucket's token")
	}
}
