package redistest_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/herald-push/herald/streams/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestStartPing(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t, redistest.Options{})
	if !strings.HasPrefix(s.Addr, "127.0.0.1:") {
		t.Fatalf("Addr = %q, want 127.0.0.1:<port>", s.Addr)
	}
	c := s.Client(t)
	if got, err := c.Ping(ctx(t)).Result(); err != nil || got != "PONG" {
		t.Fatalf("PING = %q, %v", got, err)
	}
	// Not persistent by default.
	if got := c.ConfigGet(ctx(t), "appendonly").Val()["appendonly"]; got != "no" {
		t.Fatalf("appendonly = %q, want no", got)
	}
	s.Stop()
	s.Stop() // idempotent
	assertDown(t, s.Addr)
}

// assertDown checks nothing listens on addr any more (a raw dial, to keep
// go-redis from logging its dial retries).
func assertDown(t *testing.T, addr string) {
	t.Helper()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections", addr)
	}
}

func TestExtraArgs(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t, redistest.Options{Args: []string{"--maxmemory", "12mb"}})
	got := s.Client(t).ConfigGet(ctx(t), "maxmemory").Val()["maxmemory"]
	if got != "12582912" {
		t.Fatalf("maxmemory = %q, want 12582912", got)
	}
}

func TestKillRestartAppendOnly(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t, redistest.Options{AppendOnly: true})
	addr, dir := s.Addr, s.Dir()
	c := s.Client(t)
	id, err := c.XAdd(ctx(t), &redis.XAddArgs{Stream: "st", Values: []any{"k", "v"}}).Result()
	if err != nil {
		t.Fatal(err)
	}

	s.Kill()
	s.Kill() // idempotent
	assertDown(t, addr)
	s.Restart(t)
	if s.Addr != addr || s.Dir() != dir {
		t.Fatalf("Restart moved the server: %s %s -> %s %s", addr, dir, s.Addr, s.Dir())
	}
	msgs, err := c.XRange(ctx(t), "st", "-", "+").Result() // same client reconnects
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].ID != id || msgs[0].Values["k"] != "v" {
		t.Fatalf("after Kill+Restart XRANGE = %+v, want one entry %s k=v", msgs, id)
	}

	// Graceful Stop + Restart also keeps data; Restart of a running server works too.
	if err := c.XAdd(ctx(t), &redis.XAddArgs{Stream: "st", Values: []any{"k", "w"}}).Err(); err != nil {
		t.Fatal(err)
	}
	s.Restart(t)
	if n := c.XLen(ctx(t), "st").Val(); n != 2 {
		t.Fatalf("after Restart XLEN = %d, want 2", n)
	}
}

func TestPassword(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t, redistest.Options{Password: "s3cret"})
	if err := s.Client(t).Set(ctx(t), "k", "v", 0).Err(); err != nil {
		t.Fatalf("authenticated SET: %v", err)
	}
	anon := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer anon.Close()
	err := anon.Get(ctx(t), "k").Err()
	if err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("unauthenticated GET err = %v, want NOAUTH", err)
	}
}

func TestStartCluster(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t)
	if len(cl.Addrs) != 3 || len(cl.Nodes) != 3 {
		t.Fatalf("cluster has %d addrs, %d nodes; want 3", len(cl.Addrs), len(cl.Nodes))
	}
	cc := cl.Client(t)
	for _, k := range []string{"{a}x", "{b}x", "{c}x"} {
		if err := cc.Set(ctx(t), k, k, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	// The three hash tags map to slots owned by three different masters.
	for _, n := range cl.Nodes {
		c := n.Client(t)
		if got := c.DBSize(ctx(t)).Val(); got != 1 {
			t.Errorf("node %s holds %d keys, want 1", n.Addr, got)
		}
	}
	for _, k := range []string{"{a}x", "{b}x", "{c}x"} {
		if got := cc.Get(ctx(t), k).Val(); got != k {
			t.Errorf("GET %s = %q", k, got)
		}
	}
}

// fatalTB records the Fatal message and stops the goroutine, like testing.T.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper()           {}
func (f *fatalTB) Fatal(args ...any) { f.msg = fmt.Sprint(args...); runtime.Goexit() }
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// A missing redis-server must fail the test with a clear message, never skip.
func TestMissingBinaryFails(t *testing.T) {
	t.Setenv("HERALD_REDIS_SERVER", "/nonexistent/redis-server")
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		redistest.Start(f, redistest.Options{})
		f.msg = "Start returned"
	}()
	<-done
	if !strings.Contains(f.msg, "HERALD_REDIS_SERVER") || !strings.Contains(f.msg, "not an executable") {
		t.Fatalf("Start failed with %q, want a clear error naming HERALD_REDIS_SERVER", f.msg)
	}
}
