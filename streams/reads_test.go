package streams_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/streams"
)

func TestReadsAnswerEachCallerFromSharedPipelines(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	const n = 500
	for i := range n {
		if err := e.rdb.Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	r := e.reads(t)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := redis.NewStringCmd(ctx, "get", fmt.Sprintf("k%d", i))
			if err := r.Do(ctx, cmd); err != nil {
				errs <- err
				return
			}
			if got, want := cmd.Val(), fmt.Sprint(i); got != want {
				errs <- fmt.Errorf("k%d = %q, want %q", i, got, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	reads, batches := counter(t, e.metrics.Reads), counter(t, e.metrics.ReadBatches)
	if reads != n {
		t.Errorf("reads counted %v, want %d", reads, n)
	}
	if batches >= n {
		t.Errorf("%v pipelines for %d concurrent reads: nothing was batched", batches, n)
	}
	t.Logf("%d reads in %v pipelines", n, batches)

	// A command's own error (here a missing key) reaches its caller only.
	miss := redis.NewStringCmd(ctx, "get", "missing")
	if err := r.Do(ctx, miss); !errors.Is(err, redis.Nil) {
		t.Errorf("missing key: %v, want redis.Nil", err)
	}
}

// silentRedis accepts connections and never answers, so that a pipeline stays in
// flight until the client's read timeout.
func silentRedis(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

func TestReadsWaitForRoomAtTheBoundAndFailTogetherWhenThePipelineFails(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: silentRedis(t), MaxRetries: -1, ReadTimeout: 300 * time.Millisecond,
		Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = rdb.Close() })
	m := streams.NewMetrics(prometheus.NewRegistry())
	r := streams.NewReads(rdb, m)
	r.Start()
	defer r.Stop(context.Background())

	// One pipeline hangs in flight; 1,024 reads fill the queue behind it; more wait.
	const n = 1024 + 128 + 50
	ctx := testCtx(t)
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- r.Do(ctx, redis.NewStringCmd(ctx, "get", fmt.Sprintf("k%d", i))) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for counter(t, m.ReadsWaited) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if counter(t, m.ReadsWaited) == 0 {
		t.Fatal("no read waited at the queue's bound")
	}
	// The silent server times the pipelines out: every caller gets an error, none hangs.
	for range n {
		select {
		case err := <-errs:
			if err == nil {
				t.Fatal("a read of a silent server succeeded")
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a caller still waits after its pipeline failed")
		}
	}
}

func TestReadsAfterStopFailWithErrStopped(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	r := streams.NewReads(e.rdb, e.metrics)
	r.Start()
	r.Stop(ctx)
	r.Stop(ctx) // idempotent
	if err := r.Do(ctx, redis.NewStringCmd(ctx, "get", "k")); !errors.Is(err, streams.ErrStopped) {
		t.Fatalf("Do after Stop: %v, want ErrStopped", err)
	}
}

func TestReadsCallerLeavesWhenItsContextEnds(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: silentRedis(t), MaxRetries: -1, ReadTimeout: 500 * time.Millisecond,
		Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = rdb.Close() })
	r := streams.NewReads(rdb, streams.NewMetrics(prometheus.NewRegistry()))
	r.Start()
	defer r.Stop(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := r.Do(ctx, redis.NewStringCmd(ctx, "get", "k")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do with an ended context: %v, want DeadlineExceeded", err)
	}
}
