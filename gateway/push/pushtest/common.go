package pushtest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// RetryAfter is what the fakes send as Retry-After with a 429 or 503 from
// FailNext, so that tests can check it is honoured.
const RetryAfter = 2 * time.Second

// failer answers the next n requests with a status (the FailNext knob).
type failer struct {
	mu     sync.Mutex
	n      int
	status int
}

func (f *failer) set(n, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n, f.status = n, status
}

// take says whether this request is to fail, and with which status.
func (f *failer) take() (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n <= 0 {
		return 0, false
	}
	f.n--
	return f.status, true
}

// writeFailure writes status with a Retry-After where a real service sends
// one, and body.
func writeFailure(w http.ResponseWriter, status int, contentType, body string) {
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(int(RetryAfter/time.Second)))
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// set is a mutex-guarded set of strings (gone endpoints, bad tokens).
type set struct {
	mu sync.Mutex
	m  map[string]bool
}

func (s *set) add(k string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]bool)
	}
	s.m[k] = true
}

func (s *set) has(k string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[k]
}

// randomHex is n random bytes as hex, for ids and tokens.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
