package auth

import "github.com/prometheus/client_golang/prometheus"

// Metrics count what the JWKS caches do; verification itself is counted by the
// gateway (refused handshakes by status).
type Metrics struct {
	// JWKSRefreshes counts fetches of a key set by result: "ok" or "failed".
	JWKSRefreshes *prometheus.CounterVec
	// JWKSRefetchLimited counts refetches that a token with an unknown kid asked
	// for and the rate limit (auth.jwks_refetch_interval) refused.
	JWKSRefetchLimited prometheus.Counter
}

// NewMetrics creates the counters and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		JWKSRefreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_jwks_refreshes_total", Help: "Fetches of a JWKS key set (auth.jwks_url, auth.issuers), by result: ok or failed."}, []string{"result"}),
		JWKSRefetchLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_jwks_refetch_limited_total", Help: "JWKS refetches asked for by a token with an unknown kid and refused by auth.jwks_refetch_interval."}),
	}
	m.JWKSRefreshes.WithLabelValues("ok")
	m.JWKSRefreshes.WithLabelValues("failed")
	reg.MustRegister(m.JWKSRefreshes, m.JWKSRefetchLimited)
	return m
}
