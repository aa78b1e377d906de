// Package bench is `herald bench`: load scenarios against Herald nodes, against a
// bare gws baseline server on the same machine, the reports of the runs, the
// targets they are judged against, and a capacity planner over the results.
// bench/RESULTS.md has the commands and the figures of the project's machine.
//
// # Role
//
// The bench drives Herald from outside, as a user would: the nodes are child
// processes (`herald serve`, the same executable), messages are published by XADD
// to the nodes' Redis ingress as an upstream application does, and they are
// received by the Go client SDK (package client), each client with a token minted
// as an application's backend mints them. It measures what a user gets: end-to-end
// latency, throughput, losses and duplicates, the servers' memory and CPU, and
// Redis's. The baseline server (`herald bench internal-baseline-server`) writes
// frames of the same shape to the same clients with no Redis and no actors: the
// machine's own ceiling, against which Herald's figures are set.
//
// A run: Main parses the flags (config.go) and a runner runs each scenario
// (scenarios.go: delivery.go for baseline, unicast, cluster, broadcast and
// failover; connect.go; idle.go; memcurve.go for redis-memory). After each run it
// prints the run's table (terminal.go) and rewrites results.json (results.go); at
// the end it judges the targets (targets.go) and writes report.html (report.go,
// reportcharts.go, reportcurve.go). `herald bench plan` (plan.go, planmem.go,
// curve.go) reads results.json files and sizes nodes and Redis for a load.
//
// # Processes, and who stops them
//
// Every child process gets SIGKILL when the bench dies (Pdeathsig), so an
// interrupted bench leaves none behind.
//
//   - redis-server (redis.go): one per scenario, unless --redis names one; the
//     redis-memory scenario starts one per stream-node-max-bytes value. The
//     scenario's env.close (or memRun.stop) kills it, with its process group.
//   - herald nodes and the baseline server (serverproc.go, env.go): started by
//     startEnv, killed by env.close when the scenario ends; the failover scenario
//     kills one of them on purpose (failover.go).
//   - client worker processes (worker.go, remotegroup.go): `herald bench
//     internal-worker`, when one process cannot hold every client under the
//     open-file limit. clientPool.close asks each to close its clients and waits
//     for it to exit (30 s, then SIGKILL).
//
// A scenario defers, in this order, env.close, clientPool.close and monitor.halt,
// so they run the other way round: sampling stops, the clients close, then the
// servers and Redis go.
//
// # Goroutines, and who stops them
//
//   - monitor.loop (monitor.go): one per scenario, sampling every second; halt
//     stops it (idempotent) and waits for it.
//   - The source's publishers (source.go: --publishers goroutines; baselinesource.go:
//     a status poller and a credit streamer): started and ended within source.run.
//   - The failover killer: started by publish, waited for before the figures.
//   - The clients (localgroup.go): each client.Client's own goroutines, until
//     localGroup.Close; Connect's dials, --concurrency at a time, waited for.
//   - One reader per worker process (remoteGroup.readReplies), until the worker's
//     stdout closes; one waiter per child process, until it exits.
//   - In a worker process: a progress ticker and one goroutine per request, ended
//     when runWorker returns. In the baseline server: the writers of a job
//     (baselinejob.go), ended with the job.
//
// A cancelled context (Ctrl-C) ends the current scenario's phases; the results
// measured so far are saved.
//
// # Imports
//
// bench imports client (which speaks only wire), wire, gateway/auth (to mint the
// clients' tokens), streams for its key names only (streams.Keys: where to XADD
// and what to measure), and streams/redisserver (to find and run redis-server).
// It does not import actors or gateway's server side: it must measure Herald as
// a separate process, over the network, the way users reach it. Only cmd/herald
// imports bench.
package bench
