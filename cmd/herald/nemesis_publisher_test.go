package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// nemesisPub is one acknowledged publish.
type nemesisPub struct {
	Seq     int
	User    string
	Ingress string    // the entry id the acknowledged XADD returned
	ID      string    // the push id clients must see: the idempotency key, else Ingress
	At      time.Time // just before the acknowledged attempt was sent
	// With replicas: the server that took the XADD and its replication offset just
	// after it. A failover that promoted a replica whose copy of that server ends
	// below this offset ("valid up to offset" in the promoted server's log) lost
	// the XADD in Redis, whatever WAIT said: a loss of the Redis topology's.
	Server string
	Offset int64
}

// Publishing with replicas: WAIT's timeout, and how often a publish is tried.
const (
	nemesisPublishWait     = 500 * time.Millisecond
	nemesisPublishAttempts = 3
)

// nemesisPublisher XADDs user pushes to herald:in at a steady rate, round-robin over
// the users, each with a unique seq in its data. Only acknowledged publishes are
// owed to the users.
//
// Without replicas (wait 0) a publish is acknowledged when XADD returned an id. A
// failed XADD is not retried: it is recorded as unacknowledged (it may still have
// been applied, and then it may be delivered), and the next tick publishes the next
// seq.
//
// With replicas (wait > 0) it is the careful publisher of docs/OPERATIONS.md
// ("redis.wait_replicas"): the XADD and a WAIT go in one pipeline on one
// connection, and a publish is acknowledged only when XADD returned an id AND
// WAIT confirmed that many replicas have it. An XADD a master answered and lost in
// a failover before a replica had it is the publisher's loss, not Herald's, and
// is not owed. Each push carries an id field (the idempotency key, PROTOCOL.md
// section 1), and a publish that was not acknowledged is tried again under the
// same id, up to nemesisPublishAttempts times: an attempt that Redis applied and
// a later one are then the same push to clients, which drop the second copy.
type nemesisPublisher struct {
	rdb   redis.UniversalClient
	rec   *nemesisRecorder
	users []string
	rate  int
	wait  int

	mu       sync.Mutex
	pubs     []nemesisPub
	failures int // seqs never acknowledged
	retries  int // attempts tried again
	short    int // attempts whose XADD succeeded but WAIT fell short
	done     chan struct{}
}

// newNemesisPublisher takes over rdb (a client without client-side retries: a
// retried XADD whose first attempt was applied would be a second entry with
// another ingress id, and the record must know every id it got) and closes it.
func newNemesisPublisher(rdb redis.UniversalClient, rec *nemesisRecorder, users []string, rate, wait int) *nemesisPublisher {
	return &nemesisPublisher{rdb: rdb, rec: rec, users: users, rate: rate, wait: wait, done: make(chan struct{})}
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
		p.publish(seq, p.users[(seq-1)%len(p.users)], stop)
	}
}

// publish tries seq until it is acknowledged, or gives up.
func (p *nemesisPublisher) publish(seq int, user string, stop <-chan struct{}) {
	attempts := 1
	if p.wait > 0 {
		attempts = nemesisPublishAttempts
	}
	for a := 1; a <= attempts; a++ {
		if a > 1 {
			p.count(&p.retries)
			if !sleepOrStop(stop, 100*time.Millisecond) {
				break
			}
		}
		if p.attempt(seq, user, a) {
			return
		}
	}
	p.count(&p.failures)
}

// attempt sends one XADD (and WAIT) and records an acknowledged publish.
func (p *nemesisPublisher) attempt(seq int, user string, try int) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	values := []any{"to", user, "data", fmt.Sprintf(`{"seq":%d,"u":%q}`, seq, user)}
	key := ""
	if p.wait > 0 {
		key = fmt.Sprintf("%s-%d", user, seq)
		values = append(values, "id", key)
	}
	at := time.Now()
	pipe, err := p.pipeline(ctx)
	if err != nil {
		p.rec.add(at, nemesisEvent{Ev: "publish_fail", User: user, Seq: seq, ID: key, Detail: fmt.Sprintf("attempt %d: the stream's master: %v", try, err)})
		return false
	}
	add := pipe.XAdd(ctx, &redis.XAddArgs{Stream: "herald:in", Values: values})
	var role, client, wait *redis.Cmd
	if p.wait > 0 {
		// Right behind the XADD on its connection: where it went, and at which offset.
		role, client = pipe.Do(ctx, "role"), pipe.Do(ctx, "client", "info")
		wait = pipe.Do(ctx, "wait", p.wait, nemesisPublishWait.Milliseconds())
	}
	_, _ = pipe.Exec(ctx)
	id, err := add.Result()
	if err == nil && wait != nil {
		if n, werr := wait.Int64(); werr != nil || n < int64(p.wait) {
			p.count(&p.short)
			err = fmt.Errorf("XADD %s, then WAIT %d: %d replicas, %v", id, p.wait, n, werr)
		}
	}
	if err != nil {
		p.rec.add(at, nemesisEvent{Ev: "publish_fail", User: user, Seq: seq, ID: key, Detail: fmt.Sprintf("attempt %d: %v", try, err)})
		return false
	}
	pub := nemesisPub{Seq: seq, User: user, Ingress: id, ID: id, At: at}
	detail := ""
	if key != "" {
		pub.ID = key
		pub.Server, pub.Offset = servedBy(client, role)
		detail = fmt.Sprintf("key %s, attempt %d, on %s at offset %d", key, try, pub.Server, pub.Offset)
	}
	p.mu.Lock()
	p.pubs = append(p.pubs, pub)
	p.mu.Unlock()
	p.rec.add(at, nemesisEvent{Ev: "publish", User: user, Seq: seq, ID: id, Detail: detail})
	return true
}

// pipeline is where an attempt goes. On Redis Cluster, with replicas to wait
// for, it is a pipeline on the ingress stream's master's own client: the cluster
// client would send the keyless ROLE, CLIENT INFO and WAIT to any master, and a
// WAIT covers only its own connection's writes (docs/OPERATIONS.md, "Redis
// Cluster with replicas"). That client follows no MOVED: an XADD that a demoted
// master refuses fails the attempt, and the next one asks the reloaded slot map.
func (p *nemesisPublisher) pipeline(ctx context.Context) (redis.Pipeliner, error) {
	cc, ok := p.rdb.(*redis.ClusterClient)
	if !ok || p.wait == 0 {
		return p.rdb.Pipeline(), nil
	}
	m, err := cc.MasterForKey(ctx, "herald:in")
	if err != nil {
		return nil, err
	}
	return m.Pipeline(), nil
}

// servedBy reads the server's address from CLIENT INFO (laddr) and its
// replication offset from ROLE ("master", offset, replicas).
func servedBy(client, role *redis.Cmd) (string, int64) {
	addr := ""
	if info, err := client.Text(); err == nil {
		for _, f := range strings.Fields(info) {
			if v, ok := strings.CutPrefix(f, "laddr="); ok {
				addr = v
			}
		}
	}
	var off int64 = -1
	if r, err := role.Slice(); err == nil && len(r) > 1 && r[0] == "master" {
		off, _ = r[1].(int64)
	}
	return addr, off
}

func (p *nemesisPublisher) count(n *int) {
	p.mu.Lock()
	*n++
	p.mu.Unlock()
}

// acked returns the acknowledged publishes so far.
func (p *nemesisPublisher) acked() []nemesisPub {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]nemesisPub(nil), p.pubs...)
}

// stats returns the seqs never acknowledged, the attempts tried again, and the
// attempts whose WAIT fell short.
func (p *nemesisPublisher) stats() (failed, retries, short int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failures, p.retries, p.short
}
