// Package gateway is Herald's HTTP face, on one listener: the WebSocket upgrade at
// /ws with its checks, POST /v1/publish and the server API (/v1/disconnect,
// /v1/revoke, /v1/presence, /v1/stats, /v1/topics/, /v1/history), /healthz, /readyz
// and /metrics, plus the
// extra routes cmd/herald mounts (gateway/web). It turns gws events into calls on
// the session actors and gives each session a socket to write to. The wire
// contract it serves is docs/PROTOCOL.md; the reasons are in docs/ARCHITECTURE.md.
//
// # Files
//
//	server.go             Config, Deps and the interfaces taken from them; New, Serve, Shutdown
//	handshake.go          GET /ws: the checks before the upgrade, the upgrade, the session
//	handshake_limit.go    the token bucket per source address (limits.handshakes_per_second)
//	handshake_timeout.go  counting connections cut before a whole request (slowloris)
//	events.go             gws callbacks: signs of life, client frames, OnClose
//	socket.go             a session's writes: frames, pings, pongs, the closing handshake
//	deadline.go           the write deadline under every write of a connection
//	publish.go            POST /v1/publish, and the key check the server API shares
//	pushtargets.go        /v1/push/targets; SessionTargets, the sessions' port to the target store
//	api.go                the server API's handlers
//	control.go            ApplyControl: what a node does with a control stream entry
//	health.go             /healthz and /readyz
//	reply.go              the JSON answers
//	logs.go               the log lines: sessions, refused handshakes, net/http's own
//	metrics.go            the gateway's counters
//
// # Goroutines, and who stops them
//
//   - Serve runs on its caller's goroutine (cmd/herald starts one for it) until
//     Shutdown. net/http runs one goroutine per HTTP connection; Shutdown stops
//     accepting, closes idle connections and waits for the handlers in progress.
//   - Each upgraded connection has one read goroutine, gws's ReadLoop, started by
//     serveWS (also when a draining node refuses the session, so that the closing
//     handshake ends). It runs the gws callbacks and ends when the connection
//     closes, whoever closes it: the client, a failed write, socket.Close (once the
//     client's close frame arrives, or after 2 s), or socket.Ping finding the
//     client silent for gateway.ping_timeout. Its last call is OnClose, the
//     session's one teardown point. Shutdown leaves these alone (net/http does
//     not track hijacked connections): the actors' Drain closes the sessions, and
//     their read goroutines end with their connections.
//   - A client's pings are answered by at most one short-lived goroutine per
//     connection (socket.owePong), which returns when no pong is owed.
//   - Nothing else: the session actors write through socket on their own
//     goroutines, and a write returns within gateway.write_timeout.
//
// Shutdown order (node.Stop in cmd/herald): gateway Shutdown first, so that no new
// session starts; then the router stops; then the actors drain the sessions with
// 1001, which ends the read goroutines; the node waits for Serve to return last.
//
// # Imports
//
// The packages read top to bottom: cmd/herald, gateway, actors, streams, and the
// leaves wire and config. gateway imports actors (the sessions), streams (the
// Publication it appends, and its errors), wire (close codes, names, offsets) and
// gateway/auth (tokens). It imports neither cmd/herald nor config (cmd/herald maps
// the configuration to Config) nor gateway/web (whose routes arrive through
// Deps.Routes), and no package below it imports it.
package gateway
