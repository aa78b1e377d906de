package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// nemesisPub is one acknowledged publish: XADD returned its ingress id.
type nemesisPub struct {
	Seq     int
	User    string
	Ingress string
	At      time.Time // just before the XADD was sent
}

// nemesisPublisher XADDs user pushes to herald:in at a steady rate, round-robin over
// the users, each with a unique seq in its data. A failed XADD is not retried: it is
// recorded as unacknowledged (it may still have been applied, and then it may be
// delivered), and the next tick publishes the next seq. Only acknowledged publishes
// are owed to the users.
type nemesisPublisher struct {
	rdb   *redis.Client
	rec   *nemesisRecorder
	users []string
	rate  int

	mu       sync.Mutex
	pubs     []nemesisPub
	failures int
	done     chan struct{}
}

func newNemesisPublisher(addr string, rec *nemesisRecorder, users []string, rate int) *nemesisPublisher {
	// No client-side retry: a retried XADD whose first attempt was applied would be a
	// second entry with another ingress id, and the record must know every id it got.
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second, PoolSize: 2})
	return &nemesisPublisher{rdb: rdb, rec: rec, users: users, rate: rate, done: make(chan struct{})}
}

// run publishes until stop is closed.
func (p *nemesisPublisher) run(stop <-chan struct{}) {
	defer close(p.done)
	defer p.rdb.Close()
	tick := time.NewTicker(time.Second / time.Duration(p.rate))
	defer tick.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		p.publish(seq, p.users[(seq-1)%len(p.users)])
	}
}

func (p *nemesisPublisher) publish(seq int, user string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	at := time.Now()
	id, err := p.rdb.XAdd(ctx, &redis.XAddArgs{Stream: "herald:in",
		Values: []any{"to", user, "data", fmt.Sprintf(`{"seq":%d,"u":%q}`, seq, user)}}).Result()
	if err != nil {
		p.mu.Lock()
		p.failures++
		p.mu.Unlock()
		p.rec.add(at, nemesisEvent{Ev: "publish_fail", User: user, Seq: seq, Detail: err.Error()})
		return
	}
	p.mu.Lock()
	p.pubs = append(p.pubs, nemesisPub{Seq: seq, User: user, Ingress: id, At: at})
	p.mu.Unlock()
	p.rec.add(at, nemesisEvent{Ev: "publish", User: user, Seq: seq, ID: id})
}

// acked returns the acknowledged publishes so far.
func (p *nemesisPublisher) acked() []nemesisPub {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]nemesisPub(nil), p.pubs...)
}

func (p *nemesisPublisher) failed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failures
}
