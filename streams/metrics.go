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
	// Redis operations (redischeck.go, redisobserve.go).
	EvictionPolicyChanges prometheus.Counter     // a master's maxmemory-policy changed under the node
	EvictionUnsafe        prometheus.Gauge       // masters whose policy may evict Herald's keys
	RedisOOM              prometheus.Counter     // round trips Redis refused (in part) with OOM
	KeysVanished          *prometheus.CounterVec // consumer streams or histories found deleted, by key kind
	// WaitShort counts WAITs (redis.wait_replicas) that fewer replicas confirmed
	// in time: by "router" (the round trip's entries are routed again, not
	// acknowledged) and "publish" (answered 503).
	WaitShort *prometheus.CounterVec
	// ControlEntries counts control stream entries this node read, by op and
	// outcome (applied, dead_lettered).
	ControlEntries *prometheus.CounterVec
	// Revocations is the number of revocations this node holds in memory.
	Revocations prometheus.Gauge
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
	registerRedisOps(reg, m)
	// Export every label value from the start, so that dashboards and alerts see
	// zeros rather than missing series.
	for _, r := range []string{"invalid_data", "invalid_payload", "invalid_both", "invalid_neither", "invalid_user",
		"invalid_topic", "invalid_id", "invalid_from", "invalid_ttl", "max_deliveries", "bad_inbox_entry", "handoff_refused"} {
		m.DeadLetters.WithLabelValues(r)
	}
	for _, op := range []string{"router_read", "inbox_read", "history", "handoff", "ack", "reclaim", "presence", "publish", "heartbeat", "wait"} {
		m.RedisErrors.WithLabelValues(op)
	}
	reg.MustRegister(m.PushesIn, m.DeadLetters, m.RedisErrors, m.Reclaimed, m.InboxRead, m.InboxBad, m.CursorDrops)
	return m
}

// registerRedisOps creates the metrics of the Redis checks and observer.
func registerRedisOps(reg prometheus.Registerer, m *Metrics) {
	m.EvictionPolicyChanges = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_redis_eviction_policy_changes_total", Help: "Changes of a Redis master's maxmemory-policy seen under the running node."})
	m.EvictionUnsafe = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "herald_redis_eviction_unsafe", Help: "Redis masters whose maxmemory-policy is not noeviction, so that a full Redis may delete Herald's keys."})
	m.RedisOOM = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_redis_oom_errors_total", Help: "Redis round trips refused, in part or whole, with OOM: maxmemory reached and nothing evicted."})
	m.KeysVanished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_redis_keys_vanished_total", Help: "Keys found deleted under the running node and recreated: ingress, inbox, history (a resume found its history deleted or expired)."}, []string{"key"})
	for _, k := range []string{"ingress", "inbox", "history"} {
		m.KeysVanished.WithLabelValues(k)
	}
	reg.MustRegister(m.EvictionPolicyChanges, m.EvictionUnsafe, m.RedisOOM, m.KeysVanished)
	m.WaitShort = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_redis_wait_short_total", Help: "WAITs for redis.wait_replicas replicas that fewer replicas confirmed in time: router round trips routed again without an acknowledgement, publishes answered 503."}, []string{"op"})
	m.WaitShort.WithLabelValues("router")
	m.WaitShort.WithLabelValues("publish")
	reg.MustRegister(m.WaitShort)
	m.ControlEntries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_control_entries_total", Help: "Control stream entries this node read (disconnect, revoke), by op and outcome: applied, or dead_lettered (op invalid)."}, []string{"op", "outcome"})
	m.Revocations = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "herald_revocations", Help: "Token revocations this node holds in memory for the check at connect (until the tokens they name have expired)."})
	reg.MustRegister(m.ControlEntries, m.Revocations)
}
