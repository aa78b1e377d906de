package main

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

// A router that read entries and died before acknowledging them: another router
// reclaims them after streams.claim_idle and they are delivered.
func TestEntriesOfADeadRouterAreReclaimed(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := srv.Client(t)
	ctx := context.Background()
	if err := rdb.XGroupCreateMkStream(ctx, "herald:in", "router", "0").Err(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		rdb.XAdd(ctx, &redis.XAddArgs{Stream: "herald:in", Values: []any{"to", "alice", "data", fmt.Sprintf(`{"seq":%d}`, i)}})
	}
	read, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "router", Consumer: "dead-router", Streams: []string{"herald:in", ">"}, Count: 10, Block: -1}).Result()
	if err != nil || len(read[0].Messages) != 3 {
		t.Fatalf("ghost read: %v %v", read, err)
	}

	n := startTestNode(t, srv, nodeOptions{}, "--streams.claim_idle", "400ms")
	c := connect(t, n, "alice", "since=0-0")
	next := 0
	for next < 3 {
		f := c.next(10 * time.Second)
		switch f.str("type") {
		case "recovered":
		case "push":
			if seqOf(t, f) != next {
				t.Fatalf("got %v, want seq %d", f, next)
			}
			next++
		default:
			t.Fatalf("unexpected %v", f)
		}
	}
	testkit.Eventually(t, 5*time.Second, func() error {
		p, err := rdb.XPending(ctx, "herald:in", "router").Result()
		if err != nil || p.Count != 0 {
			return errorf("still pending: %v %v", p, err)
		}
		return nil
	})
	if m := metricValue(t, n, "herald_ingress_reclaimed_total"); m != 3 {
		t.Fatalf("herald_ingress_reclaimed_total = %v", m)
	}
}

// A client that stops reading while pushes flow is cut off with 4008 once its
// unsent bytes pass the budget; the node's memory stays bounded, the user's other
// session gets everything, and the slow client resumes from history.
func TestSlowConsumerIsCutOffAndCanResume(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{},
		"--history.size", "30000") // default budget: 1 MiB
	fast := connect(t, n, "alice", "")
	fast.mu.Lock()
	fast.counting = true
	fast.mu.Unlock()
	slow := dialStalled(t, n, "alice")

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	// 24 MiB through a client that reads nothing, in bursts a reading client keeps
	// up with (the budget bounds a burst too: see docs/OPERATIONS.md on sizing).
	const total, size = 24000, 1 << 10
	payload := fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", size))
	publishMany(t, n, total, func(i int) []any {
		return []any{"to", "alice", "data", fmt.Sprintf(`{"seq":%d,"p":%s}`, i, payload)}
	})
	testkit.Eventually(t, 60*time.Second, func() error {
		fast.mu.Lock()
		defer fast.mu.Unlock()
		if fast.count != total || !strings.Contains(string(fast.lastLine), fmt.Sprintf(`"seq":%d,`, total-1)) {
			return errorf("fast session got %d of %d", fast.count, total)
		}
		return nil
	})
	testkit.Eventually(t, 20*time.Second, func() error {
		if m := metricValue(t, n, "herald_slow_consumer_closes_total"); m != 1 {
			return errorf("slow closes = %v", m)
		}
		return nil
	})
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 16<<20 {
		t.Fatalf("heap grew by %d MiB while a client stalled", grew>>20)
	}
	slow.drain(t) // what the kernel buffered, then the close

	resumed := connect(t, n, "alice", "since=0-0")
	replayed := resumed.pushes(total, 60*time.Second)
	if seqOf(t, replayed[total-1]) != total-1 {
		t.Fatalf("resume ended at %v", replayed[total-1])
	}
	if f := resumed.next(5 * time.Second); f.str("type") != "recovered" || f["complete"] != true {
		t.Fatalf("got %v, want recovered", f)
	}
}

func publishMany(t *testing.T, n *testNode, total int, fields func(i int) []any) {
	t.Helper()
	ctx := context.Background()
	for start := 0; start < total; start += 50 {
		_, err := n.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := start; i < start+50 && i < total; i++ {
				p.XAdd(ctx, &redis.XAddArgs{Stream: "herald:in", Values: fields(i)})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}

// stalledClient completed the handshake and then reads nothing.
type stalledClient struct {
	*wsClient
	raw net.Conn
}

func dialStalled(t *testing.T, n *testNode, user string) *stalledClient {
	t.Helper()
	return dialStalledWith(t, n, mint(t, user, "", time.Hour))
}

func dialStalledWith(t *testing.T, n *testNode, token string) *stalledClient {
	t.Helper()
	raw, err := net.Dial("tcp", n.Addr())
	if err != nil {
		t.Fatal(err)
	}
	// no SetReadBuffer: a tiny receive window stalls the orphaned socket close on loopback
	c := &wsClient{t: t, frames: make(chan frame, 100_000), closed: make(chan struct{})}
	conn, _, err := gws.NewClientFromConn(c, &gws.ClientOption{
		Addr: "ws://" + n.Addr() + "/ws?token=" + token, ReadMaxPayloadSize: 8 << 20,
	}, raw)
	if err != nil {
		t.Fatal(err)
	}
	c.conn = conn
	return &stalledClient{wsClient: c, raw: raw}
}

// drain starts reading: the buffered frames, then the end of the connection.
func (s *stalledClient) drain(t *testing.T) {
	go s.conn.ReadLoop()
	code := s.closeCode(30 * time.Second)
	if code != wire.CloseSlowConsumer && code != 0 {
		t.Fatalf("stalled client closed with %d, want 4008 (or an abrupt end)", code)
	}
	t.Logf("stalled client saw close code %d after %d messages", code, s.wsClient.raw)
}
