// Package actors holds Herald's actors: one session actor per WebSocket connection
// and the sharded directory that maps recipients (users and topics) to the local
// sessions. It turns pushes handed over by the router and the inbox
// (System.Deliver) into socket writes, and client frames handed over by the
// gateway (Handle.Inbound) into acks, subscriptions, and upstream sends and
// publishes. docs/ARCHITECTURE.md follows one push through it; docs/PROTOCOL.md is
// the contract the sessions speak.
//
// # Where things are
//
//   - system.go: System, the entry points (New, Open, Deliver, Sessions, Drain,
//     Reconnect, Shutdown); config.go its Config; deps.go the interfaces it needs
//     of the Redis side (History, Cursors, Presence, SessionLimit, Acks, Upstream,
//     Policy) and of the connection (Socket).
//   - directory.go: the shard actor (register, unregister, announce, deliver);
//     clock.go: pings and token expiry, ticked by the System's clock.
//   - operator.go: CloseMatching, the server API's disconnects and revocations, and
//     the SessionIndex and Subscribers ports its queries are fed through.
//   - handle.go: Handle, the part of a session other goroutines touch; outbox.go
//     its byte-bounded queue of pushes; tracker.go the callbacks of a delivered
//     batch.
//   - session.go: the session actor and its lifecycle; attach.go where its streams
//     start; subscriptions.go a stream's life from register to live; topics.go the
//     subscribe and unsubscribe frames; write.go the write path (outbox, stash,
//     coalesced writes); dedupe.go the dedupe by offset; upstream.go send and
//     publish; pushtargets.go register, unregister and targets (the PushTargets
//     port); ratelimit.go the per-second frame limits; frames.go the server
//     frames built here.
//   - supervise.go: what happens when a session or a shard panics; dispatch.go and
//     mailbox.go: how actor turns run; retry.go: the backoff of Redis reads;
//     metrics.go: what is counted.
//
// # Goroutines and actors, and who stops them
//
//   - Directory shards (Config.Shards actors) and session actors (one per
//     connection) live in one protoactor system. Their turns run on the
//     dispatcher: Config.DispatchWorkers long-lived workers and one guard
//     goroutine. An idle actor holds no goroutine.
//   - The clock: one goroutine of the System that ticks every shard (runClock).
//   - Per session, short-lived goroutines for Redis work, all started through
//     System.goAttach so that Shutdown can wait for them: a stream's attach (the
//     session slot, where it starts) and its replay from history, ended by the
//     stream's context (cancelled when it goes live, is dropped, or the session
//     stops); each send or publish, bounded by upstreamTimeout; and a session's
//     push target requests, one at a time, bounded by the same timeout.
//   - The gateway's read goroutine calls Handle.Inbound, which blocks while the
//     session has Config.MaxInbound frames waiting; that goroutine is the
//     gateway's.
//
// A session actor stops when its connection is gone: the gateway calls
// Handle.PeerClosed from gws OnClose, whoever closed it. This package closes
// connections (4008, 4001, 4003, 4009, 1001, 1011) but never stops a session
// itself; a session that panics is the exception (sessionGuardian stops it).
//
// On shutdown the node (cmd/herald) calls System.Drain, once the router stopped
// handing pushes: it refuses new sessions, closes every session with 1001 and
// waits until their actors stopped. System.Shutdown comes last, after the inbox
// and the Redis helpers stopped; it stops, in this order, the clock, then waits
// for the per-session goroutines, then stops the shards, the actor system and
// the dispatcher's workers.
//
// # Imports
//
// Herald's packages form layers, read top to bottom: cmd/herald, gateway,
// actors, streams, and the leaves wire and config. Of Herald's packages actors
// imports only wire. It talks to the Redis side (streams) through the
// interfaces of deps.go, which cmd/herald wires to streams' implementations;
// the gateway calls it, and streams calls System.Deliver through its own Sink
// interface. Outside Herald it imports protoactor-go and the Prometheus client.
package actors
