package bench

import (
	"context"
	"math"
)

// connectScenario opens --clients sessions, --concurrency at a time.
func (r *runner) connectScenario(ctx context.Context, dirOf func(string) string) *ScenarioResult {
	clients := r.cfg.Clients
	nodes := r.nodes((clients + maxConnsPerNode - 1) / maxConnsPerNode)
	sr := r.newResult("connect", "connect", Params{Server: kindHerald, Mode: modeIdle, Clients: clients, Nodes: nodes, Concurrency: r.cfg.Concurrency,
		External: len(r.cfg.Target) > 0 || r.cfg.Redis != ""})
	err := r.connectRun(ctx, sr, nodes, dirOf("connect"))
	return r.finish(sr, err)
}

// connectRun starts the nodes and the clients' processes, then times the
// connections with the servers' CPU read around them.
func (r *runner) connectRun(ctx context.Context, sr *ScenarioResult, nodes int, dir string) error {
	e, err := r.startEnv(ctx, kindHerald, nodes, dir)
	if err != nil {
		return err
	}
	defer e.close()
	pool, err := r.openPool(e, r.cfg.Clients, modeIdle, false, dir)
	if err != nil {
		return err
	}
	defer pool.close()
	sr.Params.Workers, sr.Params.SourceIPs = pool.processes, len(pool.sourceIPs)
	sr.note("%s", pool.describe())
	mon := r.startMonitor(sr, e, pool, 1)
	defer mon.halt()
	mon.setPhase("connect")
	before := r.usage(ctx, e, pool)
	cs, err := pool.connect(ctx, r.cfg.Concurrency)
	if err != nil {
		return err
	}
	after := r.usage(ctx, e, pool)
	connectFigures(sr, cs, before, after)
	mon.halt()
	sr.Nodes = r.nodeStats(ctx, e, before, after)
	return nil
}

// connectFigures are the sessions opened, their rate, the CPU each cost the
// servers and Redis, and the handshake latencies.
func connectFigures(sr *ScenarioResult, cs connectSummary, before, after usage) {
	secs := cs.End.Sub(cs.Start).Seconds()
	sr.add("sessions", "sessions opened", float64(cs.Connected), "")
	sr.add("failed", "failed", float64(cs.Failed), "")
	sr.add("sessions_per_s", "session set-up rate (welcome received)", float64(cs.Connected)/secs, "sessions/s")
	sr.add("connect_s", "time for all", secs, "s")
	if cpu, n := cpuBetween(before, after); n > 0 && cs.Connected > 0 {
		sr.add("server_cpu_us_per_session", "server CPU per session set-up", cpu/float64(cs.Connected)*1e6, "µs")
	}
	if !math.IsNaN(before.redisCPU) && !math.IsNaN(after.redisCPU) && cs.Connected > 0 {
		sr.add("redis_cpu_us_per_session", "Redis CPU per session set-up", (after.redisCPU-before.redisCPU)/float64(cs.Connected)*1e6, "µs")
	}
	sr.Handshake = summarize(cs.Handshake)
	if cs.Failed > 0 {
		sr.note("first connect error: %s", cs.FirstError)
	}
}
