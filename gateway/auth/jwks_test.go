package auth

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/prometheus/client_golang/prometheus"
)

func jwksConfig(url string, timing JWKSTiming) Config {
	return Config{Issuers: []IssuerConfig{{JWKSURL: url}}, JWKS: timing}
}

// A key rotates in the middle of a run: the new kid is accepted at once (an
// unknown kid refetches), and the old kid is refused once the cache refreshes
// after the provider dropped it. No restart.
func TestJWKSRotation(t *testing.T) {
	k1, k2 := newRSA(t, "k1"), newEC(t, "k2")
	srv := newJWKSServer(t, k1)
	m := NewMetrics(prometheus.NewRegistry())
	v := newTestVerifier(t, jwksConfig(srv.URL, JWKSTiming{Refresh: 50 * time.Millisecond, RefetchInterval: time.Millisecond}), m)
	old := k1.token(t, nil)
	if _, err := v.Verify(old); err != nil {
		t.Fatal(err)
	}
	srv.set(k1, k2)
	if _, err := v.Verify(k2.token(t, nil)); err != nil {
		t.Fatalf("new kid: %v", err)
	}
	srv.set(k2)
	testkit.Eventually(t, 10*time.Second, func() error {
		_, err := v.Verify(old)
		if !errors.Is(err, ErrSignature) {
			return fmt.Errorf("old kid after removal: %v", err)
		}
		return nil
	})
	_, err := v.Verify(old)
	wantErr(t, err, ErrSignature, `unknown key id (kid) "k1"`)
	if metricValue(t, m.JWKSRefreshes.WithLabelValues("ok")) < 3 {
		t.Error("refreshes not counted")
	}
}

// The JWKS server goes down: the keys already fetched keep working, a new kid
// is refused with a reason that says the key set is unavailable.
func TestJWKSDown(t *testing.T) {
	k1, k2 := newEd(t, "k1"), newEd(t, "k2")
	srv := newJWKSServer(t, k1)
	m := NewMetrics(prometheus.NewRegistry())
	v := newTestVerifier(t, jwksConfig(srv.URL, JWKSTiming{Refresh: 20 * time.Millisecond, RefetchInterval: time.Millisecond}), m)
	srv.setDown(true)
	testkit.Eventually(t, 10*time.Second, func() error {
		if metricValue(t, m.JWKSRefreshes.WithLabelValues("failed")) == 0 {
			return errors.New("no failed refresh yet")
		}
		return nil
	})
	if _, err := v.Verify(k1.token(t, nil)); err != nil {
		t.Fatalf("known key while the JWKS is down: %v", err)
	}
	_, err := v.Verify(k2.token(t, nil))
	wantErr(t, err, ErrSignature, "key set (JWKS) is unavailable")
}

// The JWKS server is down when the node starts: New succeeds, tokens are
// refused with a clear reason, and the keys arrive once it is back.
func TestJWKSDownAtStart(t *testing.T) {
	k1 := newRSA(t, "k1")
	srv := newJWKSServer(t, k1)
	srv.setDown(true)
	v := newTestVerifier(t, jwksConfig(srv.URL, JWKSTiming{RefetchInterval: time.Hour}), nil)
	tok := k1.token(t, nil)
	_, err := v.Verify(tok)
	wantErr(t, err, ErrSignature, "key set (JWKS) is unavailable; retry later")
	srv.setDown(false)
	testkit.Eventually(t, 20*time.Second, func() error { // the background retry backs off from 1s
		_, err := v.Verify(tok)
		return err
	})
}

// A flood of tokens with bogus kids makes at most one fetch per
// RefetchInterval, sequential or concurrent; the refused refetches are counted.
func TestUnknownKidRefetchIsRateLimited(t *testing.T) {
	k1 := newEC(t, "k1")
	srv := newJWKSServer(t, k1)
	m := NewMetrics(prometheus.NewRegistry())
	v := newTestVerifier(t, jwksConfig(srv.URL, JWKSTiming{RefetchInterval: time.Hour}), m)
	if srv.hits.Load() != 1 {
		t.Fatalf("%d fetches at start, want 1", srv.hits.Load())
	}
	const flood = 500
	bogus := func(i int) {
		_, err := v.Verify(testKey{fmt.Sprintf("bogus-%d", i), k1.signer}.token(t, nil))
		if !errors.Is(err, ErrSignature) {
			t.Errorf("bogus kid: %v", err)
		}
	}
	for i := range flood {
		bogus(i)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("JWKS server hit %d times after %d bogus kids, want 2 (the start and one refetch)", n, flood)
	}
	if n := metricValue(t, m.JWKSRefetchLimited); n != flood-1 {
		t.Errorf("refused refetches counted %v, want %d", n, flood-1)
	}
	var wg sync.WaitGroup
	for i := range flood {
		wg.Go(func() { bogus(flood + i) })
	}
	wg.Wait()
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("JWKS server hit %d times after a concurrent flood, want still 2", n)
	}
	if n := metricValue(t, m.JWKSRefetchLimited); n != 2*flood-1 {
		t.Errorf("refused refetches counted %v, want %d", n, 2*flood-1)
	}
	if _, err := v.Verify(k1.token(t, nil)); err != nil {
		t.Fatalf("the known key after the flood: %v", err)
	}
}

// With a short interval, a flood still fetches about once per interval: the
// concurrent ones share the fetch in flight.
func TestUnknownKidRefetchSharesOneFetch(t *testing.T) {
	k1 := newEC(t, "k1")
	srv := newJWKSServer(t, k1)
	v := newTestVerifier(t, jwksConfig(srv.URL, JWKSTiming{RefetchInterval: 200 * time.Millisecond}), nil)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() { _, _ = v.Verify(testKey{fmt.Sprintf("bogus-%d", i), k1.signer}.token(t, nil)) })
	}
	wg.Wait()
	// 1 at start, then one per 200ms while the flood lasts; signing 200 tokens
	// takes far less than the seconds this bound allows on a slow machine.
	if n := srv.hits.Load(); n < 2 || n > 20 {
		t.Errorf("JWKS server hit %d times, want 2..20", n)
	}
}

// The cache lifetime follows Cache-Control max-age within the bounds, or the
// configured refresh interval.
func TestJWKSLifetime(t *testing.T) {
	r := &remoteSet{timing: JWKSTiming{}.withDefaults()}
	tests := map[string]time.Duration{
		"":                        15 * time.Minute,
		"public, max-age=3600":    time.Hour,
		"max-age=5":               time.Minute,
		"max-age=9999999":         24 * time.Hour,
		"no-store":                time.Minute,
		"max-age=abc":             15 * time.Minute,
		"public, max-age=\"600\"": 10 * time.Minute,
	}
	for cc, want := range tests {
		if got := r.lifetime(cc); got != want {
			t.Errorf("lifetime(%q) = %v, want %v", cc, got, want)
		}
	}
	r.timing.Refresh = 42 * time.Second
	if got := r.lifetime("max-age=3600"); got != 42*time.Second {
		t.Errorf("configured refresh: %v", got)
	}
}

// A key set document with nothing usable is a failed fetch: the old keys stay.
func TestJWKSWithoutUsableKeysKeepsOldKeys(t *testing.T) {
	k1 := newRSA(t, "k1")
	srv := newJWKSServer(t, k1)
	m := NewMetrics(prometheus.NewRegistry())
	v := newTestVerifier(t, jwksConfig(srv.URL, JWKSTiming{Refresh: 20 * time.Millisecond}), m)
	srv.setRaw(map[string]string{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}, map[string]string{"kty": "RSA", "kid": "enc", "use": "enc"})
	testkit.Eventually(t, 10*time.Second, func() error {
		if metricValue(t, m.JWKSRefreshes.WithLabelValues("failed")) == 0 {
			return errors.New("no failed refresh yet")
		}
		return nil
	})
	if _, err := v.Verify(k1.token(t, nil)); err != nil {
		t.Fatal(err)
	}
}
