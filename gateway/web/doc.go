// Package web serves Herald's browser side: the JavaScript client at /herald.js
// (always) and, in the embedded mode only, a demo page at / with the two dev
// endpoints it needs, POST /dev/token and POST /dev/publish. The page takes
// ?user=NAME, ?auto=1 (sign in, subscribe to ?topic=, default news, and publish a
// greeting there, all without a click) and ?ws=URL (another node's /ws).
//
// The files are embedded in the binary (static/ and demo/); nothing is built.
// static/ is also the npm package @herald/client (package.json, herald.js,
// herald.d.ts).
//
// # Files
//
//	handler.go  Config, Routes and Handler: which paths are served, and to whom
//	asset.go    the embedded files, served with an ETag
//	dev.go      POST /dev/token and POST /dev/publish
//	json.go     reading a JSON body, and the JSON answers
//
// # Goroutines
//
// None of its own: the handlers run on the goroutines of the HTTP server that
// mounts them (the gateway's), and stop with it. The browser tests start processes
// (a herald node, redis-server, the Node.js driver of Chromium) and stop them in
// their cleanups.
//
// # Imports
//
// gateway/auth (Mint), streams (the Publication /dev/publish appends, and
// Rejection) and wire (the name rule). cmd/herald mounts Routes through
// gateway.Deps.Routes, so gateway does not import web, and nothing else does.
package web
