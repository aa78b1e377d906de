// Command herald is the Herald push engine: `herald serve` runs a node; `listen`,
// `token`, `publish` and `config` help try it out and operate it; `bench` measures
// it. help.go has the command list and each command's help.
//
// It only wires: node.go builds every service from the configuration (streams,
// actors, gateway) and stops them in the order of docs/ARCHITECTURE.md, "Shutdown
// order"; serve.go runs a node until a signal, its logger limited by
// internal/loglimit. The goroutines it starts itself are the HTTP server's and the
// signal handler's, both stopped by serve; `herald listen` runs a Go client
// (package client) until a signal, and Close stops its goroutines.
//
// It is the top of the import graph: cmd → gateway → actors → streams → leaves
// (wire, config). Its tests start whole nodes, in process and as herald processes,
// against real redis-server processes: faults, Redis Cluster and Sentinel, abuse,
// TLS, and the randomized fault test (docs/NEMESIS.md).
package main
