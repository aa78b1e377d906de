package notify

import "github.com/prometheus/client_golang/prometheus"

// Event outcomes: what became of one undelivered event.
const (
	eventNotified    = "notified"     // every target settled (sent, gone or refused)
	eventAcked       = "acked"        // a device acknowledged the push meanwhile
	eventRateLimited = "rate_limited" // over push.rate_limit
	eventNoTargets   = "no_targets"   // the user has no registered target
	eventExpired     = "expired"      // the push's own ttl ended
	eventLost        = "lost"         // history no longer holds it and the event lacks its data
	eventBad         = "bad"          // not a valid event (dead-lettered)
	eventGaveUp      = "gave_up"      // a target still refused after push.max_attempts (dead-lettered)
)

// Notification outcomes, per target kind.
const (
	sendSent    = "sent"
	sendGone    = "gone"    // the platform no longer knows the target: removed
	sendRetry   = "retry"   // refused for now: retried later
	sendFailed  = "failed"  // refused for good: not retried
	sendGaveUp  = "gave_up" // retried push.max_attempts times
	sendDeduped = "deduped" // already settled by an earlier attempt: skipped
)

// Metrics are the worker's. One set per node, on the node's registry.
type Metrics struct {
	Events        *prometheus.CounterVec // by outcome
	Notifications *prometheus.CounterVec // by kind and outcome
	Queue         prometheus.Gauge       // events held in memory
	QueueFull     prometheus.Counter     // reads skipped because the queue was at its bound
	Reclaimed     prometheus.Counter     // events taken over from another consumer
	RedisErrors   prometheus.Counter     // failed Redis round trips (the event is retried)
	SendSeconds   prometheus.Histogram   // one send's duration
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_push_events_total", Help: "Undelivered events the push-notification fallback settled, by outcome."}, []string{"outcome"}),
		Notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_push_notifications_total", Help: "Notifications to push targets, by target kind and outcome."}, []string{"kind", "outcome"}),
		Queue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_push_queue", Help: "Undelivered events this node holds: waiting for push.grace or a retry, or being sent."}),
		QueueFull: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_push_queue_full_total", Help: "Times the push worker stopped reading because push.queue_size events were held."}),
		Reclaimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_push_reclaimed_total", Help: "Undelivered events taken over from a push worker that stopped."}),
		RedisErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_push_redis_errors_total", Help: "Failed Redis round trips of the push worker (the event is retried)."}),
		SendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "herald_push_send_seconds", Help: "Duration of one send to a platform push service.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}),
	}
	reg.MustRegister(m.Events, m.Notifications, m.Queue, m.QueueFull, m.Reclaimed, m.RedisErrors, m.SendSeconds)
	return m
}

// kindLabel bounds the kind label to the known kinds.
func kindLabel(kind string) string {
	switch kind {
	case "webpush", "fcm", "apns":
		return kind
	}
	return "other"
}
