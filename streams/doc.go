// Package streams owns every Redis key and command of Herald: the ingress
// consumer group and its router, node inboxes, history streams, device cursors,
// presence and its events, cluster membership, the session limit, undelivered
// events, upstream, the publisher, the server API's control stream, revocations
// and queries, trimming, the Redis checks and the embedded
// store. No other package names a key (keys.go builds them all) or sends a
// command; rediscommands.go lists every command, for the ACL rule.
//
// # Goroutines and who stops them
//
// Each service has Start and Stop (Stop is idempotent and bounded by its context);
// cmd/herald starts them and stops them in the order of docs/ARCHITECTURE.md,
// "Shutdown order":
//
//   - Router: one loop per ingress partition (lease, read, append, hand off, ack);
//     Stop releases the leases.
//   - Inbox: the node inbox's reader and its acknowledger.
//   - Presence, Cursors, SessionLimit, Reads: one writer each, batching.
//   - Undelivered: the ack-wait emitter. Cluster: heartbeat, reaping, offline events.
//   - RedisCheck: the periodic eviction-policy and memory check.
//   - Control: the control stream reader (disconnect, revoke), on every node.
//
// A WAIT on Redis Cluster (wait.go) runs one goroutine per master for the length of
// one round trip.
//
// # Imports
//
// Of Herald's packages, streams imports only wire (the protocol types). It knows
// nothing of sessions: it hands pushes to a Sink and reports through interfaces
// and callbacks that cmd/herald wires to actors and gateway.
package streams
