package streams_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

func newPresence(t *testing.T, e *env, node string) (*streams.Presence, func()) {
	t.Helper()
	p := streams.NewPresence(e.rdb, e.keys, node, 0, e.log, e.metrics)
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Stop(ctx)
	}
	t.Cleanup(stop)
	return p, stop
}

func members(t *testing.T, e *env, r wire.Recipient) []string {
	t.Helper()
	m, err := e.rdb.SMembers(testCtx(t), e.keys.Presence(r)).Result()
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

// ready runs once Redis lists the node: a reader of the presence set sees it.
func TestPresenceReadyAfterSAdd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := e.srv.Client(t) // another connection, as another node's router would use
	p, _ := newPresence(t, e, "node-1")
	p.Start()
	seen := make(chan error, 2)
	for _, r := range []wire.Recipient{wire.User("bob"), wire.Topic("news")} {
		p.Add(r, func() {
			ok, err := other.SIsMember(context.Background(), e.keys.Presence(r), "node-1").Result()
			if err == nil && !ok {
				err = fmt.Errorf("ready for %v ran before the SADD was visible", r)
			}
			seen <- err
		})
	}
	for i := 0; i < 2; i++ {
		select {
		case err := <-seen:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(waitLong):
			t.Fatal("ready never ran")
		}
	}
}

// Requests for one recipient end in the state of the last one, whether they
// coalesce in one flush or not.
func TestPresenceOrdering(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ops     string // a = Add, r = Remove
		present bool
	}{
		{"add", "a", true},
		{"remove", "r", false},
		{"add remove", "ar", false},
		{"add remove add", "ara", true},
		{"remove add", "ra", true},
		{"add add remove", "aar", false},
		{"add remove add remove add", "arara", true},
	}
	for _, tt := range tests {
		for _, mode := range []string{"coalesced", "sequential"} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				p, _ := newPresence(t, e, "node-1")
				r := wire.User("bob")
				if mode == "sequential" {
					p.Start()
				}
				for _, op := range tt.ops {
					if op == 'a' {
						p.Add(r, nil)
					} else {
						p.Remove(r)
					}
				}
				if mode == "coalesced" {
					p.Start() // everything above is pending: one flush
				}
				// A later request's ready runs after every earlier request was written.
				done := make(chan struct{})
				p.Add(wire.User("sentinel"), func() { close(done) })
				select {
				case <-done:
				case <-time.After(waitLong):
					t.Fatal("sentinel never written")
				}
				got := len(members(t, e, r)) == 1
				if got != tt.present {
					t.Fatalf("after %q present = %v, want %v (set %v)", tt.ops, got, tt.present, members(t, e, r))
				}
			})
		}
	}
}

// Each node keeps its own membership; removing one leaves the others.
func TestPresenceTwoNodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p1, _ := newPresence(t, e, "node-1")
	p2, _ := newPresence(t, e, "node-2")
	p1.Start()
	p2.Start()
	r := wire.User("alice")
	wait := func(p *streams.Presence) {
		done := make(chan struct{})
		p.Add(wire.User("sentinel"), func() { close(done) })
		<-done
	}
	p1.Add(r, nil)
	p2.Add(r, nil)
	wait(p1)
	wait(p2)
	if got := members(t, e, r); !reflect.DeepEqual(got, []string{"node-1", "node-2"}) {
		t.Fatalf("members %v", got)
	}
	p1.Remove(r)
	wait(p1)
	if got := members(t, e, r); !reflect.DeepEqual(got, []string{"node-2"}) {
		t.Fatalf("members after node-1 left %v", got)
	}
}

// Stop writes what is still pending.
func TestPresenceStopFlushes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p, stop := newPresence(t, e, "node-1")
	p.Start()
	for i := 0; i < 20; i++ {
		p.Add(wire.User(fmt.Sprint("u", i)), nil)
	}
	stop()
	stop() // idempotent
	for i := 0; i < 20; i++ {
		if got := members(t, e, wire.User(fmt.Sprint("u", i))); !reflect.DeepEqual(got, []string{"node-1"}) {
			t.Fatalf("u%d members %v after Stop", i, got)
		}
	}
}

// A failed write is retried: the node ends up listed once Redis is back, and the
// waiters run then.
func TestPresenceRetriesAfterRedisOutage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.withoutRetries(t)
	p, _ := newPresence(t, e, "node-1")
	p.Start()
	e.srv.Kill()
	done := make(chan struct{})
	p.Add(wire.User("bob"), func() { close(done) })
	testkit.Eventually(t, waitLong, func() error {
		if counter(t, e.metrics.RedisErrors.WithLabelValues("presence")) < 1 {
			return errNotYet
		}
		return nil
	})
	select {
	case <-done:
		t.Fatal("ready ran although the SADD failed")
	default:
	}
	e.srv.Restart(t)
	select {
	case <-done:
	case <-time.After(waitLong):
		t.Fatal("ready never ran after Redis came back")
	}
	if got := members(t, e, wire.User("bob")); !reflect.DeepEqual(got, []string{"node-1"}) {
		t.Fatalf("members %v", got)
	}
}

// Resync writes the node's whole presence again after Redis lost it, but not what
// the node removed.
func TestPresenceResync(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p, _ := newPresence(t, e, "node-1")
	p.Start()
	flushed := func() {
		done := make(chan struct{})
		p.Add(wire.User("sentinel"), func() { close(done) })
		<-done
	}
	p.Add(wire.User("bob"), nil)
	p.Add(wire.Topic("news"), nil)
	p.Add(wire.User("gone"), nil)
	p.Remove(wire.User("gone"))
	flushed()
	if err := e.rdb.FlushAll(testCtx(t)).Err(); err != nil { // Redis lost its data
		t.Fatal(err)
	}
	p.Resync()
	testkit.Eventually(t, waitLong, func() error {
		for _, r := range []wire.Recipient{wire.User("bob"), wire.Topic("news"), wire.User("sentinel")} {
			if got := members(t, e, r); !reflect.DeepEqual(got, []string{"node-1"}) {
				return fmt.Errorf("%v members %v after Resync", r, got)
			}
		}
		return nil
	})
	flushed()
	if got := members(t, e, wire.User("gone")); len(got) != 0 {
		t.Fatalf("Resync listed a removed recipient: %v", got)
	}
}
