package actors

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the session and directory counters of one node.
type Metrics struct {
	Sessions     prometheus.Gauge
	PushesOut    prometheus.Counter
	SlowClosed   prometheus.Counter
	Panics       prometheus.Counter
	BadFrames    prometheus.Counter
	Latency      prometheus.Histogram
	Replayed     prometheus.Counter
	WriteErrors  prometheus.Counter
	DrainClosed  prometheus.Counter
	ExpiryClosed prometheus.Counter
	LimitClosed  prometheus.Counter
	RateLimited  prometheus.Counter
	PolicyClosed prometheus.Counter
	LatePushes   prometheus.Counter
	SubsRefused  *prometheus.CounterVec // subscribe frames refused, by reason
	// SpawnedTurns counts actor turns that found every dispatcher worker busy.
	SpawnedTurns prometheus.Counter
	// ShardPanics counts directory shards restarted after a panic.
	ShardPanics prometheus.Counter
	// Registrations counts register frames by target kind and outcome.
	Registrations *prometheus.CounterVec
	// OperatorClosed counts sessions closed by the server API, by close code.
	OperatorClosed *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_sessions", Help: "Open WebSocket sessions on this node."}),
		PushesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_pushes_out_total", Help: "Push frames written to sessions (live and replayed)."}),
		SlowClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_slow_consumer_closes_total", Help: "Sessions closed with 4008 for exceeding their unsent byte budget."}),
		Panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_session_panics_total", Help: "Sessions stopped by a panic in their handling (closed with 1011)."}),
		BadFrames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_bad_frames_total", Help: "Client frames answered with an error frame."}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_delivery_latency_seconds",
			Help:    "Publish time (ingress entry time) to the live write of the push frame.",
			Buckets: []float64{.001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		Replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_pushes_replayed_total", Help: "Push frames replayed from history on resume."}),
		WriteErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_write_errors_total", Help: "Socket writes that failed (the session was closed)."}),
		DrainClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_drain_closes_total", Help: "Sessions closed with 1001 while draining."}),
		ExpiryClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_token_expiry_closes_total", Help: "Sessions closed with 4001 when their token expired."}),
		SubsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_subscriptions_refused_total", Help: "Subscribe frames refused: forbidden by the topic policy, or over limits.max_subscriptions."}, []string{"reason"}),
		LatePushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_late_pushes_total", Help: "Live pushes written after a newer one of the same stream (around a router failover)."}),
		RateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_rate_limited_total", Help: "Client frames refused with rate_limited."}),
		PolicyClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_policy_closes_total", Help: "Sessions closed with 4003 for abusive traffic."}),
		LimitClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_session_limit_closes_total", Help: "Sessions closed with 4009 for exceeding limits.max_sessions_per_user."}),
		SpawnedTurns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_actor_spawned_turns_total", Help: "Actor mailbox turns run on a new goroutine because every dispatcher worker was busy."}),
	}
	m.ShardPanics = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_directory_panics_total", Help: "Directory shards restarted after a panic; their sessions were closed with 1011 to resume from history."})
	reg.MustRegister(m.ShardPanics)
	m.Registrations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_push_registrations_total",
		Help: "Register frames by target kind (webpush, fcm, apns) and outcome (registered, bad_target, no_device, rate_limited, unavailable); malformed ones count in herald_bad_frames_total."},
		[]string{"kind", "outcome"})
	reg.MustRegister(m.Registrations)
	m.OperatorClosed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_operator_closes_total", Help: "Sessions closed by the server API (disconnect: 4010 or 1012; revoke: 4001), by code."}, []string{"code"})
	reg.MustRegister(m.OperatorClosed)
	m.SubsRefused.WithLabelValues("forbidden")
	m.SubsRefused.WithLabelValues("limit")
	reg.MustRegister(m.SubsRefused, m.LatePushes, m.RateLimited, m.PolicyClosed, m.LimitClosed, m.Sessions, m.PushesOut, m.SlowClosed, m.Panics, m.BadFrames, m.Latency,
		m.Replayed, m.WriteErrors, m.DrainClosed, m.ExpiryClosed, m.SpawnedTurns)
	return m
}
