// Package client is the Go client SDK of Herald's WebSocket protocol (wire contract
// v1, docs/PROTOCOL.md sections 3 to 6), for applications, services and tests.
//
// # Why a package of its own
//
// The SDK is a product for applications, not a part of the server's gateway: it is
// released and used on its own, and nothing of the server is built into it. The
// load generator (herald bench) uses it as one more client, like any application, so
// that what the bench measures is what applications get.
//
// # What it does
//
// Dial connects and returns after the first welcome frame. From then on the client
// keeps itself connected until Close: after a disconnect it reconnects (to the next
// URL, with backoff) with ?since=<LastOffset()>, so that the node replays what it
// missed, resubscribes its topics with their last offsets, and drops duplicate
// pushes by message id. Close codes are handled as docs/PROTOCOL.md section 6 says:
// 4001 fetches a new token and reconnects, 4003 and 4009 stop the client, any other
// code (or a dropped connection) reconnects with since.
//
// Before its first push a client resumes from the offset of the node's welcome
// frame (where its session started), and a topic from the offset of its subscribed
// frame, so a disconnect loses nothing even before anything arrived.
//
//	c, err := client.Dial(ctx, client.Config{
//		URLs:   []string{"ws://node-a:8080/ws", "ws://node-b:8080/ws"},
//		Token:  func(ctx context.Context) (string, error) { return mintToken(ctx, "alice") },
//		OnPush: func(p client.Push) { handle(p) },
//	})
//	...
//	defer c.Close()
//
// # Goroutines and who stops them
//
// A Client runs at most two goroutines:
//   - run (reconnect.go), started by Dial and stopped by Close, which cancels the
//     client's context, closes the socket and waits for run to return. It connects,
//     serves the connection and, after a disconnect, sleeps the backoff and
//     connects again. While a connection is up it is the read loop: gws's ReadLoop
//     runs on it and calls the frame handlers (readloop.go), and so every callback.
//   - keepalive (keepalive.go), started by run for each connection and joined by
//     run when that connection's read loop returns, before it reconnects. It
//     flushes the batched acks (acks.go), pings the node, and closes a connection
//     on which nothing arrived for three ping intervals.
//
// Close must therefore not be called from a callback: it would wait for the
// goroutine it runs on. Everything else (Subscribe, Send, Ack, ...) may be.
//
// # Callbacks
//
// Callbacks (OnWelcome, OnPush, OnRecovered, OnSubscribed, OnState, OnError,
// OnSent) are all called from the run goroutine, in the order of the frames. They
// must return quickly: while one runs, nothing is read from the node (and a node
// cuts off a session that falls too far behind, close code 4008). Hand long work to another goroutine, and call
// `go c.Close()` from a callback that wants to stop the client.
//
// # Imports
//
// Of Herald's packages, client may import only wire (the protocol types); it must
// not import the server's packages (gateway, actors, streams), so that an
// application that uses it builds none of the server.
package client
