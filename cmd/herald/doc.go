// Command herald is the Herald push engine: `herald serve` runs a node; `token`,
// `publish` and `config` help try it out and operate it; `bench` measures it.
//
// It only wires: node.go builds every service from the configuration (streams,
// actors, gateway) and stops them in the order of docs/ARCHITECTURE.md, "Shutdown
// order"; serve.go runs a node until a signal. The goroutines it starts itself
// are the HTTP server's and the signal handler's, both stopped by serve.
//
// It is the top of the import graph: cmd → gateway → actors → streams → leaves
// (wire, config). Its tests start whole nodes, in process and as herald processes,
// against real redis-server processes: faults, Redis Cluster and Sentinel, abuse,
// TLS, and the randomized fault test (docs/NEMESIS.md).
package main
