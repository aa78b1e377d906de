package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// source publishes the measured messages of a scenario: by XADD to Herald's
// ingress, or by telling the baseline server to write frames itself.
type source interface {
	run(ctx context.Context, p pubPlan) error
	published() int64 // measured messages published so far
	expected() int64  // deliveries the clients should receive for them
	errorCount() int64
	firstError() string
}

// pubPlan is how to publish.
type pubPlan struct {
	rate     float64       // messages/s; 0 = flat out
	dur      time.Duration // how long to publish
	window   int64         // flat out: messages published but not yet delivered, at most
	fanout   int64         // deliveries per message: 1 (unicast) or the subscriber count
	delivery func() int64  // measured deliveries so far
	stall    time.Duration // flat out: give up when nothing was delivered for this long
}

// redisSource publishes with pipelined XADDs from several goroutines.
type redisSource struct {
	rdb        redis.UniversalClient
	mode       string
	users      []string // unicast: user of each client
	streams    []string // unicast: ingress stream of each user
	topic      string
	topicKey   string
	payload    int
	publishers int
	batch      int
	fanout     int64 // deliveries per message

	pub, issued, errs atomic.Int64
	firstErr          atomic.Value
	stalled           atomic.Bool
}

func newRedisSource(e *env, mode string, clients int, topic string, cfg *Config) *redisSource {
	s := &redisSource{rdb: e.rdb, mode: mode, payload: cfg.Payload, publishers: cfg.Publishers, batch: cfg.Batch, topic: topic}
	s.firstErr.Store("")
	if mode == modeBroadcast {
		s.topicKey = e.keys.IngressFor(wire.Topic(topic))
		return s
	}
	for i := 0; i < clients; i++ {
		u := userName("u", i)
		s.users = append(s.users, u)
		s.streams = append(s.streams, e.keys.IngressFor(wire.User(u)))
	}
	return s
}

func (s *redisSource) published() int64  { return s.pub.Load() }
func (s *redisSource) errorCount() int64 { return s.errs.Load() }
func (s *redisSource) firstError() string {
	return s.firstErr.Load().(string)
}

func (s *redisSource) expected() int64 { return s.pub.Load() * max(s.fanout, 1) }

// send publishes messages n0..n0+count-1 in one pipeline, stamped with now.
func (s *redisSource) send(ctx context.Context, n0, count int64, warm bool) {
	pipe := s.rdb.Pipeline()
	now := time.Now().UnixNano()
	buf := make([]byte, 0, s.payload+64)
	for n := n0; n < n0+count; n++ {
		buf = appendPayload(buf[:0], n, now, warm, s.payload)
		if s.mode == modeBroadcast {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: s.topicKey, Values: []any{"topic", s.topic, "data", string(buf)}})
			continue
		}
		u := n % int64(len(s.users))
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: s.streams[u], Values: []any{"to", s.users[u], "data", string(buf)}})
	}
	cmds, _ := pipe.Exec(ctx)
	var ok, failed int64
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			failed++
			s.firstErr.CompareAndSwap("", err.Error())
		} else {
			ok++
		}
	}
	if warm {
		return
	}
	s.pub.Add(ok)
	s.errs.Add(failed)
	s.issued.Add(-failed)
}

// warm publishes one unmeasured message to each user (or one to the topic).
func (s *redisSource) warm(ctx context.Context) {
	if s.mode == modeBroadcast {
		s.send(ctx, 0, 1, true)
		return
	}
	for n := int64(0); n < int64(len(s.users)); n += 500 {
		s.send(ctx, n, min(500, int64(len(s.users))-n), true)
	}
}

// run publishes the measured messages: at p.rate for p.dur, or flat out.
func (s *redisSource) run(ctx context.Context, p pubPlan) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if p.rate > 0 {
		return s.runPaced(ctx, p)
	}
	return s.runFlatOut(ctx, cancel, p)
}

// runPaced hands the publishers a batch of at most --batch messages whenever the
// rate makes them due, checking every millisecond.
func (s *redisSource) runPaced(ctx context.Context, p pubPlan) error {
	jobs := make(chan [2]int64, 1024)
	var wg sync.WaitGroup
	for range s.publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				s.send(ctx, j[0], j[1], false)
			}
		}()
	}
	start := time.Now()
	var sent int64
	for ctx.Err() == nil {
		el := time.Since(start)
		if el >= p.dur {
			break
		}
		due := int64(p.rate * el.Seconds())
		for sent < due {
			c := min(due-sent, int64(s.batch))
			s.issued.Add(c)
			select {
			case jobs <- [2]int64{sent, c}:
			case <-ctx.Done():
			}
			sent += c
		}
		time.Sleep(time.Millisecond)
	}
	close(jobs)
	wg.Wait()
	return ctx.Err()
}

// flatOutWindow is what the flat-out publishers share.
type flatOutWindow struct {
	next         atomic.Int64 // the next message's number
	lastSeen     atomic.Int64 // deliveries at the last check
	lastProgress atomic.Int64 // unix ns when lastSeen last changed
	batch        int64
}

// runFlatOut keeps at most p.window messages in flight (published, not yet
// delivered) until p.dur ends, and gives up when nothing is delivered for p.stall.
func (s *redisSource) runFlatOut(ctx context.Context, cancel context.CancelFunc, p pubPlan) error {
	end := time.Now().Add(p.dur)
	w := &flatOutWindow{batch: min(int64(s.batch), max(p.window, 1))}
	w.lastProgress.Store(time.Now().UnixNano())
	var wg sync.WaitGroup
	for range s.publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(end) {
				if !s.waitWindow(ctx, cancel, p, w, end) {
					return
				}
				s.issued.Add(w.batch)
				n0 := w.next.Add(w.batch) - w.batch
				s.send(ctx, n0, w.batch, false)
			}
		}()
	}
	wg.Wait()
	if s.stalled.Load() {
		return fmt.Errorf("publishing stalled: nothing delivered for %v with %d messages in flight", p.stall, s.issued.Load()-p.delivery()/max(p.fanout, 1))
	}
	return nil
}

// waitWindow waits until one more batch fits in the window. It returns false when
// the run ends meanwhile: its time is up, ctx is done, or nothing was delivered
// for p.stall (then it marks the source stalled and cancels the run).
func (s *redisSource) waitWindow(ctx context.Context, cancel context.CancelFunc, p pubPlan, w *flatOutWindow, end time.Time) bool {
	for {
		d := p.delivery()
		if old := w.lastSeen.Load(); d != old && w.lastSeen.CompareAndSwap(old, d) {
			w.lastProgress.Store(time.Now().UnixNano())
		}
		if (s.issued.Load()+w.batch)*p.fanout-d <= p.window*p.fanout {
			return true
		}
		if ctx.Err() != nil || !time.Now().Before(end) {
			return false
		}
		if p.stall > 0 && time.Since(time.Unix(0, w.lastProgress.Load())) > p.stall {
			s.stalled.Store(true)
			cancel()
			return false
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// sendTo publishes count unmeasured messages to user u in one pipeline.
func (s *redisSource) sendTo(ctx context.Context, u, count int) {
	pipe := s.rdb.Pipeline()
	now := time.Now().UnixNano()
	buf := make([]byte, 0, s.payload+64)
	for i := 0; i < count; i++ {
		buf = appendPayload(buf[:0], int64(i), now, true, s.payload)
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: s.streams[u], Values: []any{"to", s.users[u], "data", string(buf)}})
	}
	_, _ = pipe.Exec(ctx)
}
