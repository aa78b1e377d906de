// Package testkit holds the few helpers every package's tests need the same way:
// polling with a deadline instead of sleeping, a buffer several goroutines write
// to, a free loopback address. Only tests import it; it starts no goroutines and
// imports none of Herald's packages.
package testkit

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"
)

// Eventually polls f until it returns nil, failing the test with f's last error
// after d. Tests wait this way rather than for a fixed time: the machines are
// noisy.
func Eventually(tb testing.TB, d time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("not within %v: %v", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SyncBuffer is a bytes.Buffer that one goroutine (a process's output, a
// logger) writes while the test reads it. The zero value is ready to use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// FreeAddr is a loopback address no one listens on right now.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
