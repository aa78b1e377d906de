package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// JWKSTiming says when a key set is fetched again. Zero fields take the
// defaults of withDefaults.
type JWKSTiming struct {
	// Refresh, when set, is a fixed refresh interval; zero follows the server's
	// Cache-Control max-age, bounded to MinTTL..MaxTTL (DefaultTTL without one).
	Refresh    time.Duration
	MinTTL     time.Duration // default 1m
	MaxTTL     time.Duration // default 24h
	DefaultTTL time.Duration // default 15m
	// RefetchInterval is the least time between two fetches asked for by tokens
	// with an unknown kid, so a flood of bogus kids cannot hammer the provider.
	RefetchInterval time.Duration // default 10s
	Timeout         time.Duration // one fetch; default 5s
}

func (t JWKSTiming) withDefaults() JWKSTiming {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.MinTTL, time.Minute)
	def(&t.MaxTTL, 24*time.Hour)
	def(&t.DefaultTTL, 15*time.Minute)
	def(&t.RefetchInterval, 10*time.Second)
	def(&t.Timeout, 5*time.Second)
	return t
}

// maxJWKSBytes bounds a key set document.
const maxJWKSBytes = 1 << 20

// keySnapshot is one fetched key set; it never changes once published.
type keySnapshot struct {
	byKid map[string][]pubKey
	all   []pubKey
}

// remoteSet is a JWKS URL's keys, cached. It fetches once when built, then in
// its own goroutine on the cache lifetime (retrying failures with backoff), and
// on demand when a token names a kid it does not hold, at most once per
// RefetchInterval. Known keys keep working while the server is down.
type remoteSet struct {
	url     string
	where   string // url without a password, for logs
	timing  JWKSTiming
	client  *http.Client
	log     *slog.Logger
	metrics *Metrics

	keys    atomic.Pointer[keySnapshot]
	healthy atomic.Bool // the last fetch succeeded

	mu struct {
		sync.Mutex
		lastRefetch time.Time     // start of the last fetch a token's unknown kid caused
		inflight    chan struct{} // closed when the running fetch ends; nil when none runs
		nextTTL     time.Duration // what the last successful fetch said
	}
	ctx    context.Context // canceled by close: ends a running fetch and the loop
	cancel context.CancelFunc
	done   chan struct{}
}

// newRemoteSet fetches rawURL once (a failure is logged, not returned: the node
// starts and keeps trying) and starts the refresh goroutine; close stops it.
func newRemoteSet(rawURL string, timing JWKSTiming, log *slog.Logger, m *Metrics) *remoteSet {
	r := &remoteSet{url: rawURL, where: redact(rawURL), timing: timing.withDefaults(), log: log, metrics: m, done: make(chan struct{})}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	r.client = &http.Client{Transport: tr, Timeout: r.timing.Timeout}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.keys.Store(&keySnapshot{})
	ok := r.fetchShared()
	go r.loop(ok)
	return r
}

// close stops the refresh goroutine and waits for it.
func (r *remoteSet) close() {
	r.cancel()
	<-r.done
	r.client.CloseIdleConnections()
}

// loop refreshes on the cache lifetime; after a failure it retries with a
// backoff from 1s up to the rate limit's interval, at least.
func (r *remoteSet) loop(ok bool) {
	defer close(r.done)
	backoff := time.Second
	for {
		wait := r.ttl()
		if !ok {
			wait, backoff = backoff, min(2*backoff, max(r.timing.RefetchInterval, time.Minute))
		} else {
			backoff = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		ok = r.fetchShared()
	}
}

func (r *remoteSet) ttl() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.nextTTL
}

// lookup returns the cached keys with kid, refetching once (rate-limited)
// when there are none.
func (r *remoteSet) lookup(kid string) []pubKey {
	if keys := r.keys.Load().byKid[kid]; len(keys) > 0 {
		return keys
	}
	if !r.refetch() {
		return nil
	}
	return r.keys.Load().byKid[kid]
}

// all returns every cached key, for tokens without a kid.
func (r *remoteSet) all() []pubKey { return r.keys.Load().all }

// refetch fetches now unless another refetch started within RefetchInterval; a
// fetch in flight is waited for instead. It reports whether a fetch was made.
// Scheduled refreshes do not count against the limit: a kid rotated in just
// after one is fetched at its first token.
func (r *remoteSet) refetch() bool {
	if r.ctx.Err() != nil {
		return false // closed: the node is stopping
	}
	r.mu.Lock()
	if ch := r.mu.inflight; ch != nil {
		r.mu.Unlock()
		<-ch
		return true
	}
	if time.Since(r.mu.lastRefetch) < r.timing.RefetchInterval {
		r.mu.Unlock()
		r.metrics.JWKSRefetchLimited.Inc()
		return false
	}
	r.mu.lastRefetch = time.Now()
	r.mu.Unlock()
	r.fetchShared()
	return true
}

// fetchShared runs one fetch, or waits for the one running, and reports
// whether the set is healthy afterwards.
func (r *remoteSet) fetchShared() bool {
	r.mu.Lock()
	if ch := r.mu.inflight; ch != nil {
		r.mu.Unlock()
		<-ch
		return r.healthy.Load()
	}
	ch := make(chan struct{})
	r.mu.inflight = ch
	r.mu.Unlock()

	ttl, err := r.fetch()
	r.mu.Lock()
	if err == nil {
		r.mu.nextTTL = ttl
	}
	r.mu.inflight = nil
	r.mu.Unlock()
	close(ch)
	return err == nil
}

// fetch GETs the set and publishes its keys; on failure the old keys stay.
func (r *remoteSet) fetch() (time.Duration, error) {
	keys, ttl, err := r.get()
	if err != nil {
		r.metrics.JWKSRefreshes.WithLabelValues("failed").Inc()
		if r.healthy.Swap(false) || r.keys.Load().all == nil {
			r.log.Warn("auth: JWKS fetch failed; known keys stay in use, retrying", "url", r.where, "err", err)
		}
		return 0, err
	}
	r.metrics.JWKSRefreshes.WithLabelValues("ok").Inc()
	snap := &keySnapshot{byKid: make(map[string][]pubKey, len(keys)), all: keys}
	for _, k := range keys {
		snap.byKid[k.kid] = append(snap.byKid[k.kid], k)
	}
	r.keys.Store(snap)
	if !r.healthy.Swap(true) {
		r.log.Info("auth: JWKS fetched", "url", r.where, "keys", len(keys), "refresh", ttl)
	}
	return ttl, nil
}

// get fetches and parses the set, and says how long to keep it.
func (r *remoteSet) get() ([]pubKey, time.Duration, error) {
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, 0, err
	}
	if len(body) > maxJWKSBytes {
		return nil, 0, errors.New("key set larger than 1 MiB")
	}
	keys, _, err := parseJWKS(body)
	if err != nil {
		return nil, 0, err
	}
	return keys, r.lifetime(resp.Header.Get("Cache-Control")), nil
}

// lifetime is the configured refresh interval, else the server's max-age
// bounded to MinTTL..MaxTTL, else DefaultTTL.
func (r *remoteSet) lifetime(cacheControl string) time.Duration {
	if r.timing.Refresh > 0 {
		return r.timing.Refresh
	}
	age, ok := maxAge(cacheControl)
	if !ok {
		return r.timing.DefaultTTL
	}
	return min(max(age, r.timing.MinTTL), r.timing.MaxTTL)
}

// redact hides a password in a URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// maxAge reads max-age from a Cache-Control header; no-store and no-cache
// count as zero, which the lower bound then lifts.
func maxAge(cc string) (time.Duration, bool) {
	for part := range strings.SplitSeq(cc, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return 0, true
		case "max-age":
			n, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64)
			if err != nil || n < 0 {
				return 0, false
			}
			return time.Duration(min(n, int64(365*24*3600))) * time.Second, true
		}
	}
	return 0, false
}
