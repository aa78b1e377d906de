package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-push/herald/client"
	"github.com/herald-push/herald/internal/testkit"
)

type stateEvent struct {
	s   client.State
	err error
}

// recorder records everything a client reports.
type recorder struct {
	mu        sync.Mutex
	pushes    []client.Push
	states    []stateEvent
	recovered []string
	errs      []client.ServerError
	sent      []string // OnSent as "ref=id"
	tokens    atomic.Int32
}

func (r *recorder) config(t *testing.T, user string, urls ...string) client.Config {
	return client.Config{
		URLs: urls,
		Token: func(context.Context) (string, error) {
			r.tokens.Add(1)
			return mint(t, user, time.Hour), nil
		},
		OnPush: func(p client.Push) {
			r.mu.Lock()
			r.pushes = append(r.pushes, p)
			r.mu.Unlock()
		},
		OnRecovered: func(to, topic string, complete bool) {
			r.mu.Lock()
			r.recovered = append(r.recovered, fmt.Sprintf("%s%s:%v", to, topic, complete))
			r.mu.Unlock()
		},
		OnState: func(s client.State, err error) {
			r.mu.Lock()
			r.states = append(r.states, stateEvent{s, err})
			r.mu.Unlock()
		},
		OnError: func(e client.ServerError) {
			r.mu.Lock()
			r.errs = append(r.errs, e)
			r.mu.Unlock()
		},
		Backoff: client.Backoff{Min: 20 * time.Millisecond, Max: 300 * time.Millisecond},
	}
}

// ns returns the "n" of every push's data, in order.
func (r *recorder) ns() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]int, 0, len(r.pushes))
	for _, p := range r.pushes {
		var d struct{ N int }
		if err := json.Unmarshal(p.Data, &d); err != nil {
			out = append(out, -1)
			continue
		}
		out = append(out, d.N)
	}
	return out
}

func (r *recorder) count(s client.State) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.states {
		if e.s == s {
			n++
		}
	}
	return n
}

func (r *recorder) stateLog() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stateLogLocked()
}

func (r *recorder) stateLogLocked() string {
	var b strings.Builder
	for _, e := range r.states {
		fmt.Fprintf(&b, "%v(%v) ", e.s, e.err)
	}
	return b.String()
}

// waitNs waits until the pushes are exactly 1..n, in order.
func (r *recorder) waitNs(t *testing.T, n int) {
	t.Helper()
	want := make([]int, n)
	for i := range want {
		want[i] = i + 1
	}
	testkit.Eventually(t, 20*time.Second, func() error {
		got := r.ns()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("pushes %v, want 1..%d; states %s", got, n, r.stateLog())
		}
		return nil
	})
}

func (r *recorder) hasTopicPush(topic string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pushes {
		if p.Topic == topic {
			return true
		}
	}
	return false
}

func dial(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitState waits until the client reported s for the nth time and returns its
// error.
func (r *recorder) waitState(t *testing.T, s client.State, nth int) error {
	t.Helper()
	var err error
	testkit.Eventually(t, 10*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		seen := 0
		for _, e := range r.states {
			if e.s == s {
				if seen++; seen == nth {
					err = e.err
					return nil
				}
			}
		}
		return fmt.Errorf("state %v #%d not reported: %s", s, nth, r.stateLogLocked())
	})
	return err
}
