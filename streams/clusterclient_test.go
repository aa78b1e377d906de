package streams_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
)

// A master of a 3+3 cluster is killed with -9 while a Herald cluster client
// writes to a key it served: writes go through again soon after its replica is
// promoted. go-redis alone kept sending them to the dead address until its
// slot map was a minute old (ARCHITECTURE.md "Redis Cluster: following a
// failover").
func TestClusterClientFollowsAFailover(t *testing.T) {
	ha := redistest.StartHACluster(t, redistest.Options{})
	rdb, err := streams.Connect(context.Background(), streams.RedisConfig{Addrs: ha.Addrs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	sh := ha.ShardOf(t, "k")
	w := startWriter(rdb, "k")
	t.Cleanup(w.stop)
	testkit.Eventually(t, waitLong, func() error { return w.okSince(time.Now().Add(-time.Second)) })

	killed := time.Now()
	sh.Master.Kill()
	ha.WaitPromoted(t, sh, 30*time.Second)
	promoted := time.Now()
	// Generous: far below go-redis's 60 s reload, far above the few hundred
	// milliseconds it takes.
	testkit.Eventually(t, 15*time.Second, func() error { return w.okSince(promoted) })
	back := w.firstOKAfter(killed)
	t.Logf("replica promoted %v after kill -9; writes through again %v after the kill",
		promoted.Sub(killed).Round(10*time.Millisecond), back.Sub(killed).Round(10*time.Millisecond))
	// The old master comes back as a replica; the client goes on writing.
	ha.Rejoin(t, sh.Master, 30*time.Second)
	now := time.Now()
	testkit.Eventually(t, waitLong, func() error { return w.okSince(now) })
}

// writer SETs one key every 10 ms and records when a SET succeeded.
type writer struct {
	mu   sync.Mutex
	oks  []time.Time
	done chan struct{}
	quit chan struct{}
}

func startWriter(rdb redis.UniversalClient, key string) *writer {
	w := &writer{done: make(chan struct{}), quit: make(chan struct{})}
	go func() {
		defer close(w.done)
		for i := 0; ; i++ {
			select {
			case <-w.quit:
				return
			case <-time.After(10 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err := rdb.Set(ctx, key, i, 0).Err()
			cancel()
			if err == nil {
				w.mu.Lock()
				w.oks = append(w.oks, time.Now())
				w.mu.Unlock()
			}
		}
	}()
	return w
}

func (w *writer) stop() {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	<-w.done
}

func (w *writer) okSince(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.oks); n == 0 || !w.oks[n-1].After(t) {
		return fmt.Errorf("no write succeeded since %v", t.Format("15:04:05.000"))
	}
	return nil
}

// firstOKAfter is the first success after the first failure after t (zero if none).
func (w *writer) firstOKAfter(t time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	prev := t
	for _, ok := range w.oks {
		if ok.After(t) && ok.Sub(prev) > 100*time.Millisecond {
			return ok // the first success after a gap: the writes had failed
		}
		if ok.After(t) {
			prev = ok
		}
	}
	return time.Time{}
}

// redisReply is an error reply as go-redis hands it over.
type redisReply string

func (e redisReply) Error() string { return string(e) }
func (e redisReply) RedisError()   {}

// A slot map is reloaded on what says a node may have gone, the cluster is down
// or a slot moved; not on replies about the command, nor on the caller's own
// cancel.
func TestClusterReloadTriggers(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for err, want := range map[error]bool{
		nil:                          false,
		redis.Nil:                    false,
		redis.ErrClosed:              false,
		context.Canceled:             false,
		context.DeadlineExceeded:     true,
		refused:                      true,
		fmt.Errorf("x: %w", refused): true,
		io.EOF:                       true,
		redisReply("CLUSTERDOWN The cluster is down"):   true,
		redisReply("MOVED 3999 127.0.0.1:6381"):         true,
		redisReply("ASK 3999 127.0.0.1:6381"):           false,
		redisReply("WRONGTYPE Operation against a key"): false,
		errors.New("i/o timeout"):                       true,
	} {
		if got := streams.NeedsReload(err); got != want {
			t.Errorf("needsReload(%v) = %v, want %v", err, got, want)
		}
	}
}
