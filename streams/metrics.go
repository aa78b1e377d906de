package streams

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the streams package's counters. One set per node, registered on the
// node's own registry (never the global one) so that tests can run several nodes.
type Metrics struct {
	PushesIn    prometheus.Counter     // valid ingress entries routed
	DeadLetters *prometheus.CounterVec // by reason class
	RedisErrors *prometheus.CounterVec // by operation
	Reclaimed   prometheus.Counter     // ingress entries taken over from a dead consumer
	InboxRead   prometheus.Counter     // node inbox entries read
	InboxBad    prometheus.Counter     // node inbox entries that could not be parsed
	CursorDrops prometheus.Counter     // cursor updates dropped at the pending bound
	// PresenceEvents counts online/offline events appended to herald:presence.
	PresenceEvents *prometheus.CounterVec
	NodesReaped    prometheus.Counter // dead nodes cleaned up by this node
	Undelivered    prometheus.Counter // pushes appended to herald:undelivered
	LimitRefused   prometheus.Counter // sessions refused with 4009
	// Reads batched by Reads: reads sent, pipelines sent, reads that waited for
	// room in the full queue.
	Reads, ReadBatches, ReadsWaited prometheus.Counter
	// RouteLag is each push's publish time (ingress entry time) to its hand-off by
	// the router: with herald_delivery_latency_seconds it tells whether a delay is in
	// the routing (Redis, the router) or in the node's sessions.
	RouteLag prometheus.Histogram
	// LeaseLostAcks counts ingress entries a router handed off but could not
	// acknowledge because its lease had passed to another node meanwhile: they are
	// routed again by the new holder.
	LeaseLostAcks prometheus.Counter
	// InboxOverflows counts the times this node's inbox backlog passed
	// streams.inbox_max_len and the node closed its sessions so that they resume
	// from history.
	InboxOverflows prometheus.Counter
}

// NewMetrics creates the counters and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		PushesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_pushes_in_total", Help: "Valid ingress entries routed to history and nodes."}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_dead_letters_total", Help: "Entries moved to the dead-letter stream, by reason."}, []string{"reason"}),
		RedisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_redis_errors_total", Help: "Failed Redis operations, by operation."}, []string{"op"}),
		Reclaimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_ingress_reclaimed_total", Help: "Ingress entries reclaimed from a consumer that stopped."}),
		InboxRead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_inbox_entries_total", Help: "Node inbox entries read."}),
		InboxBad: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_inbox_bad_entries_total", Help: "Node inbox entries that could not be parsed and were dead-lettered."}),
		CursorDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_cursor_updates_dropped_total", Help: "Device cursor updates dropped because too many were pending."}),
	}
	m.PresenceEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_presence_events_total", Help: "Online and offline events appended to the presence stream."}, []string{"event"})
	m.NodesReaped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_nodes_reaped_total", Help: "Dead nodes whose presence and inbox this node cleaned up."})
	m.Undelivered = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_undelivered_total", Help: "User pushes no device acked in time, appended to the undelivered stream."})
	m.LimitRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_sessions_refused_total", Help: "Sessions closed with 4009: over limits.max_sessions_per_user."})
	m.PresenceEvents.WithLabelValues("online")
	m.PresenceEvents.WithLabelValues("offline")
	reg.MustRegister(m.PresenceEvents, m.NodesReaped, m.Undelivered, m.LimitRefused)
	m.Reads = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_redis_reads_total", Help: "Session reads (history tops, replay pages, cursors) sent in shared pipelines."})
	m.ReadBatches = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_redis_read_batches_total", Help: "Pipelines that carried session reads."})
	m.ReadsWaited = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_redis_reads_waited_total", Help: "Session reads that waited for room in the full read queue."})
	reg.MustRegister(m.Reads, m.ReadBatches, m.ReadsWaited)
	m.RouteLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "herald_route_lag_seconds",
		Help:    "Publish time (ingress entry time) to the router's hand-off of the push to its nodes.",
		Buckets: []float64{.001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	reg.MustRegister(m.RouteLag)
	m.LeaseLostAcks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_ingress_lease_lost_acks_total", Help: "Ingress entries handed off but left pending because the partition lease had moved; the new holder routes them again."})
	m.InboxOverflows = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_inbox_overflows_total", Help: "Times this node's inbox backlog passed streams.inbox_max_len and its sessions were closed to resume from history."})
	reg.MustRegister(m.LeaseLostAcks, m.InboxOverflows)
	// Export every label value from the start, so that dashboards and alerts see
	// zeros rather than missing series.
	for _, r := range []string{"invalid_data", "invalid_payload", "invalid_both", "invalid_neither", "invalid_user",
		"invalid_topic", "invalid_id", "invalid_from", "invalid_ttl", "max_deliveries", "bad_inbox_entry"} {
		m.DeadLetters.WithLabelValues(r)
	}
	for _, op := range []string{"router_read", "inbox_read", "history", "handoff", "ack", "reclaim", "presence", "publish", "heartbeat"} {
		m.RedisErrors.WithLabelValues(op)
	}
	reg.MustRegister(m.PushesIn, m.DeadLetters, m.RedisErrors, m.Reclaimed, m.InboxRead, m.InboxBad, m.CursorDrops)
	return m
}
