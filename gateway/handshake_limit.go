package gateway

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// maxTrackedAddrs bounds the handshake limiter's memory: past it, addresses idle
// for a second are forgotten (their buckets are full again anyway).
const maxTrackedAddrs = 50_000

// handshakeLimiter is a token bucket per source address: limit handshakes a second,
// with a burst of the same size.
type handshakeLimiter struct {
	limit float64
	mu    sync.Mutex
	addrs map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newHandshakeLimiter(perSecond int) *handshakeLimiter {
	return &handshakeLimiter{limit: float64(perSecond), addrs: make(map[string]*bucket)}
}

// allow takes a token for r's source address.
func (l *handshakeLimiter) allow(r *http.Request, now time.Time) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.addrs[host]
	if b == nil {
		if len(l.addrs) >= maxTrackedAddrs {
			l.sweepLocked(now)
		}
		b = &bucket{tokens: l.limit, last: now}
		l.addrs[host] = b
	}
	b.tokens = min(l.limit, b.tokens+now.Sub(b.last).Seconds()*l.limit)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *handshakeLimiter) sweepLocked(now time.Time) {
	for a, b := range l.addrs {
		if now.Sub(b.last) > time.Second {
			delete(l.addrs, a)
		}
	}
}
