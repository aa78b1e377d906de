// Package notify is the push-notification fallback worker: it reads the
// undelivered events (herald:undelivered, docs/PROTOCOL.md section 2a) through
// the consumer group "push", waits push.grace after each, checks that no device
// acknowledged the push meanwhile, and sends one notification per push to each
// of the user's registered targets through a push.Sender.
//
// At least once, never twice per target: an event is acknowledged only once
// every target's outcome is settled, and each settled target is marked in Redis
// (streams.PushLedger) before the event is, so that a retried event (this node
// restarted, another node claiming a dead node's events) skips the targets
// already notified.
//
// # Files
//
//	worker.go        Worker, Start, Stop; the reader (read, claim, keep held events)
//	queue.go         the bounded delay queue, ordered by due time
//	handle.go        one event: checks, sends per target, outcomes, retries, dead letters
//	notification.go  the Notification a push becomes (payload, title, body, collapse key, TTL)
//	config.go        Config and its defaults
//	deps.go          the ports the worker uses, filled by streams types
//	metrics.go       the worker's metrics and outcome labels
//
// # Goroutines
//
// Start runs one reader (XREADGROUP, XAUTOCLAIM of other consumers' idle
// events, and the periodic XCLAIM that keeps this node's held events its own)
// and Config.Concurrency senders, which take due events from a bounded delay
// queue. Stop ends them all: in-flight sends finish (or are cancelled when
// Stop's context ends); events still queued stay pending in Redis for the next
// run of this node or for another node.
//
// # Imports
//
// gateway/push (the Sender port and its outcome classes), streams (the types
// its Redis-side ports speak), wire; cmd/herald fills the ports.
package notify
