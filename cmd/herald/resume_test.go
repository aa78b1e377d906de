package main

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
)

func seqOf(t *testing.T, p frame) int {
	t.Helper()
	d, ok := p["data"].(map[string]any)
	if !ok {
		t.Fatalf("push without object data: %v", p)
	}
	return int(d["seq"].(float64))
}

func TestResumeWithSinceReplaysThenRecoveredThenLive(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{})
	c := connect(t, n, "alice", "")
	for i := 0; i < 5; i++ {
		xadd(t, n, "to", "alice", "data", fmt.Sprintf(`{"seq":%d}`, i))
	}
	got := c.pushes(5, 5*time.Second)
	last := got[2].str("offset") // the client handled 0..2 when it lost the connection
	c.close()

	for i := 5; i < 8; i++ {
		xadd(t, n, "to", "alice", "data", fmt.Sprintf(`{"seq":%d}`, i))
	}
	c2 := connect(t, n, "alice", "since="+url.QueryEscape(last))
	// Publishing is asynchronous: 5..7 may still be on their way through the router,
	// so they come replayed or live, but in order, once, with recovered in between.
	c2.resumed(t, 3, 8, "to", "alice", 5*time.Second)
	xadd(t, n, "to", "alice", "data", `{"seq":8}`)
	if live := c2.pushes(1, 5*time.Second)[0]; seqOf(t, live) != 8 {
		t.Fatalf("live push %v, want seq 8", live)
	}
	c2.quiet(200 * time.Millisecond)
}

// A client resumes while pushes keep coming: the replay and the live stream must
// join without a gap and without a duplicate.
func TestResumeRacingLivePushesHasNoGapNoDuplicate(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{})
	c := connect(t, n, "alice", "")
	xadd(t, n, "to", "alice", "data", `{"seq":0}`)
	first := c.pushes(1, 5*time.Second)[0]
	c.close()

	const total = 400
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i < total; i++ {
			xadd(t, n, "to", "alice", "data", fmt.Sprintf(`{"seq":%d}`, i))
			if i%20 == 0 {
				time.Sleep(2 * time.Millisecond)
			}
		}
	}()
	time.Sleep(10 * time.Millisecond) // reconnect while publishing is under way
	c2 := connect(t, n, "alice", "since="+url.QueryEscape(first.str("offset")))
	c2.resumed(t, 1, total, "to", "alice", 15*time.Second)
	wg.Wait()
	c2.quiet(200 * time.Millisecond)
}

func TestSinceOlderThanHistoryIsIncomplete(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{}, "--history.size", "5")
	for i := 0; i < 20; i++ {
		xadd(t, n, "to", "alice", "data", fmt.Sprintf(`{"seq":%d}`, i))
	}
	// Wait until the router has routed everything into history.
	testkit.Eventually(t, 5*time.Second, func() error {
		l, err := n.rdb.XLen(context.Background(), "herald:{u:alice}:h").Result()
		if err != nil || l != 5 {
			return fmt.Errorf("history length %d %v", l, err)
		}
		top, _ := n.rdb.XRevRangeN(context.Background(), "herald:{u:alice}:h", "+", "-", 1).Result()
		if len(top) == 0 || top[0].Values["data"] != `{"seq":19}` {
			return fmt.Errorf("not routed yet")
		}
		return nil
	})
	c := connect(t, n, "alice", "since=1-0") // older than anything history still holds
	got := c.pushes(5, 5*time.Second)
	if seqOf(t, got[0]) != 15 || seqOf(t, got[4]) != 19 {
		t.Fatalf("replayed %v..%v, want seq 15..19", got[0], got[4])
	}
	rec := c.next(5 * time.Second)
	if rec.str("type") != "recovered" || rec["complete"] != false {
		t.Fatalf("got %v, want recovered complete:false", rec)
	}
}

func TestDeviceCursorResumesWithoutSince(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{})
	tok := mint(t, "alice", "phone", time.Hour)
	c, _, err := dial(t, n, "token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.next(5 * time.Second) // welcome
	for i := 0; i < 4; i++ {
		xadd(t, n, "to", "alice", "data", fmt.Sprintf(`{"seq":%d}`, i))
	}
	got := c.pushes(4, 5*time.Second)
	if err := c.conn.WriteString(fmt.Sprintf(`{"type":"ack","offset":%q}`, got[1].str("offset"))); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() error { // the cursor is written in batches
		v, err := n.rdb.HGet(context.Background(), "herald:{u:alice}:c", "phone").Result()
		if err != nil || v != got[1].str("offset") {
			return fmt.Errorf("cursor %q %v", v, err)
		}
		return nil
	})
	c.close()
	xadd(t, n, "to", "alice", "data", `{"seq":4}`)
	testkit.Eventually(t, 5*time.Second, func() error { // routed into history before the reconnect
		if l, _ := n.rdb.XLen(context.Background(), "herald:{u:alice}:h").Result(); l != 5 {
			return errorf("history has %d", l)
		}
		return nil
	})

	c2, _, err := dial(t, n, "token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	c2.next(5 * time.Second) // welcome
	replayed := c2.pushes(3, 5*time.Second)
	for i, p := range replayed {
		if seqOf(t, p) != i+2 {
			t.Fatalf("replayed %v, want seq %d", p, i+2)
		}
	}
	if rec := c2.next(5 * time.Second); rec.str("type") != "recovered" || rec["complete"] != true {
		t.Fatalf("got %v, want recovered", rec)
	}

	// Another device of the same user, never acked: live only.
	c3 := connect(t, n, "alice", "device=tablet")
	c3.quiet(300 * time.Millisecond)
}

// resumed reads what a resuming client gets: pushes with seq from..to-1, in order,
// each once (replayed or live, as publishing races the resume), and exactly one
// recovered frame with complete:true for the stream (field "to" or "topic" = name)
// somewhere among them or right after.
func (c *wsClient) resumed(t *testing.T, from, to int, field, name string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	next, recovered := from, false
	check := func(f frame) {
		switch f.str("type") {
		case "recovered":
			if recovered || f["complete"] != true || f.str(field) != name {
				t.Fatalf("bad recovered frame %v", f)
			}
			recovered = true
		case "push":
			if s := seqOf(t, f); s != next {
				t.Fatalf("got seq %d, want %d (gap or duplicate)", s, next)
			}
			next++
		default:
			t.Fatalf("unexpected frame %v", f)
		}
	}
	for next < to || !recovered {
		select {
		case f := <-c.frames:
			check(f)
		case <-deadline:
			t.Fatalf("got up to seq %d of %d, recovered %v", next, to, recovered)
		}
	}
}
