package gateway

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the gateway's counters.
type Metrics struct {
	HandshakesLimited prometheus.Counter
	Refused           *prometheus.CounterVec // handshakes refused before the upgrade, by status
	OversizeFrames    prometheus.Counter
	IdleClosed        prometheus.Counter
	SlowHandshakes    prometheus.Counter
	// APIRegistrations counts POST /v1/push/targets by target kind and outcome.
	APIRegistrations *prometheus.CounterVec
	// API counts server API calls (/v1/disconnect, ...), by op and outcome.
	API *prometheus.CounterVec
}

// NewMetrics creates the counters and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		HandshakesLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_handshakes_limited_total", Help: "WebSocket handshakes refused with 429 (limits.handshakes_per_second)."}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_handshakes_refused_total", Help: "WebSocket handshakes refused before the upgrade, by HTTP status."}, []string{"status"}),
		OversizeFrames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_oversize_frames_total", Help: "Sessions closed with 1009 for a frame over limits.max_frame_bytes."}),
		SlowHandshakes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_slow_handshakes_total", Help: "Connections closed before sending a whole request (gateway.handshake_timeout)."}),
		IdleClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_idle_closes_total", Help: "Sessions closed after gateway.ping_timeout without a frame or pong."}),
	}
	for _, s := range []string{"400", "401", "403", "429"} {
		m.Refused.WithLabelValues(s)
	}
	m.APIRegistrations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_push_api_registrations_total",
		Help: "Push targets registered through POST /v1/push/targets, by kind and outcome (registered, bad_target, unavailable)."},
		[]string{"kind", "outcome"})
	reg.MustRegister(m.APIRegistrations)
	m.API = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_api_requests_total", Help: "Server API calls (disconnect, revoke, presence, stats, topics, history), by op and outcome (ok, bad_request, unauthorized, method, unavailable, off)."}, []string{"op", "outcome"})
	reg.MustRegister(m.API)
	reg.MustRegister(m.HandshakesLimited, m.Refused, m.OversizeFrames, m.IdleClosed, m.SlowHandshakes)
	return m
}
