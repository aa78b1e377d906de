package gateway

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

func from(addr string) *http.Request { return &http.Request{RemoteAddr: addr} }

// The bucket starts full (a burst of the limit), refills at the limit a second,
// never above it, and belongs to one source address.
func TestHandshakeLimiterIsATokenBucketPerAddress(t *testing.T) {
	l := newHandshakeLimiter(3)
	t0 := time.Unix(1_700_000_000, 0)
	a := from("192.0.2.1:40000")
	for i := range 3 {
		if !l.allow(a, t0) {
			t.Fatalf("handshake %d of a burst of 3 refused", i+1)
		}
	}
	if l.allow(a, t0) {
		t.Fatal("a 4th handshake in the same instant was allowed")
	}
	if !l.allow(from("192.0.2.1:40001"), t0.Add(time.Second/3+time.Millisecond)) {
		t.Fatal("a third of a second later (another port, same address) no token was back")
	}
	if l.allow(a, t0.Add(time.Second/3+time.Millisecond)) {
		t.Fatal("one token came back, two were taken")
	}
	if !l.allow(from("192.0.2.2:40000"), t0) {
		t.Fatal("another address shares the first one's bucket")
	}
	later := t0.Add(time.Hour)
	for i := range 3 {
		if !l.allow(a, later) {
			t.Fatalf("after an hour, handshake %d refused", i+1)
		}
	}
	if l.allow(a, later) {
		t.Fatal("an hour of refill holds more than the burst")
	}
}

// A RemoteAddr without a port (a unix socket, a proxy's odd value) is the key as
// it is.
func TestHandshakeLimiterAddressWithoutPort(t *testing.T) {
	l := newHandshakeLimiter(1)
	t0 := time.Now()
	if !l.allow(from("@"), t0) || l.allow(from("@"), t0) {
		t.Fatal("an address without a port did not get a bucket of its own")
	}
}

// Past maxTrackedAddrs, a new address makes the limiter forget the addresses idle
// for over a second, whose buckets are full anyway; busy ones are kept.
func TestHandshakeLimiterForgetsIdleAddresses(t *testing.T) {
	l := newHandshakeLimiter(1)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range maxTrackedAddrs {
		l.allow(from("10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256)+":1"), t0)
	}
	busy := from("10.0.0.0:1")
	l.allow(busy, t0.Add(1500*time.Millisecond)) // refilled, then empty again
	l.allow(from("192.0.2.1:1"), t0.Add(2*time.Second))
	if n := len(l.addrs); n != 2 {
		t.Fatalf("%d addresses tracked after the sweep, want 2 (the busy one and the new one)", n)
	}
	if l.allow(busy, t0.Add(2*time.Second)) {
		t.Fatal("the busy address's bucket was forgotten")
	}
}
