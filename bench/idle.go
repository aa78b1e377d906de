package bench

import (
	"context"
	"fmt"
	"time"
)

// idleScenario holds --clients idle connections for --hold and measures the
// servers' memory per connection.
func (r *runner) idleScenario(ctx context.Context, kind string, dirOf func(string) string) *ScenarioResult {
	clients := r.cfg.Clients
	name := "idle"
	nodes := 1
	if kind == kindHerald {
		nodes = r.nodes((clients + maxConnsPerNode - 1) / maxConnsPerNode)
	} else {
		name = "baseline-idle"
	}
	sr := r.newResult(name, name, Params{Server: kind, Mode: modeIdle, Clients: clients, Nodes: nodes, HoldS: r.cfg.Hold.Seconds(),
		Concurrency: r.cfg.Concurrency, External: kind == kindHerald && (len(r.cfg.Target) > 0 || r.cfg.Redis != "")})
	err := r.idleRun(ctx, sr, kind, nodes, dirOf(name))
	return r.finish(sr, err)
}

// idleRun starts the servers and reads them empty, connects the clients, holds
// them for --hold and reads the servers again.
func (r *runner) idleRun(ctx context.Context, sr *ScenarioResult, kind string, nodes int, dir string) error {
	clients := r.cfg.Clients
	if kind == kindBaseline && clients > maxConnsPerNode {
		return fmt.Errorf("the baseline server is one process: at most %d connections under the open-file limit", maxConnsPerNode)
	}
	if nodes > 1 {
		sr.note("%d nodes: one node holds at most %d connections under the 20,000 open-file limit", nodes, maxConnsPerNode)
	}
	e, err := r.startEnv(ctx, kind, nodes, dir)
	if err != nil {
		return err
	}
	defer e.close()
	pool, err := r.openPool(e, clients, modeIdle, false, dir)
	if err != nil {
		return err
	}
	defer pool.close()
	sr.Params.Workers, sr.Params.SourceIPs = pool.processes, len(pool.sourceIPs)
	sr.note("%s", pool.describe())
	if pool.processes > 1 && r.cfg.Workers == 0 {
		sr.note("the clients need %d processes: one process may hold at most 20,000 open files here (--conns-per-process %d)", pool.processes, r.cfg.ConnsPerProcess)
	}
	time.Sleep(time.Second) // let the servers settle after start
	before := r.usage(ctx, e, pool)
	empty := r.nodeStats(ctx, e, before, before)
	mon := r.startMonitor(sr, e, pool, 1)
	defer mon.halt()
	full, t, err := r.holdIdle(ctx, e, pool, mon, before)
	if err != nil {
		return err
	}
	sr.Nodes = full
	idleFigures(sr, empty, full, t, r.cfg.Hold)
	return nil
}

// holdIdle connects every client, holds the connections for --hold and reads the
// servers and the clients' counts at the end.
func (r *runner) holdIdle(ctx context.Context, e *env, pool *clientPool, mon *monitor, before usage) ([]NodeStats, Tick, error) {
	mon.setPhase("connect")
	if _, err := pool.connectAll(ctx, r.cfg.Concurrency); err != nil {
		return nil, Tick{}, err
	}
	mon.setPhase("hold")
	select {
	case <-time.After(r.cfg.Hold):
	case <-ctx.Done():
		return nil, Tick{}, ctx.Err()
	}
	after := r.usage(ctx, e, pool)
	full := r.nodeStats(ctx, e, before, after)
	mon.halt()
	t, _, _, err := pool.final()
	return full, t, err
}

// idleFigures are what the connections added to the servers, per connection:
// the servers' readings with them (full) less those before (empty).
func idleFigures(sr *ScenarioResult, empty, full []NodeStats, t Tick, hold time.Duration) {
	var dRSS, dHeap, dStack, dG, rss float64
	for i := range full {
		dRSS += full[i].RSSBytes - empty[i].RSSBytes
		dHeap += full[i].HeapInuse - empty[i].HeapInuse
		dStack += full[i].StackInuse - empty[i].StackInuse
		dG += full[i].Goroutines - empty[i].Goroutines
		rss += full[i].RSSBytes
	}
	n := float64(t.Connected)
	sr.add("connections", "connections open at the end", n, "")
	sr.add("reconnects", "reconnections during the hold", float64(t.Reconnects), "")
	if n > 0 {
		sr.add("rss_per_conn_bytes", "server RSS per connection", dRSS/n, "B")
		sr.add("heap_per_conn_bytes", "Go heap in use per connection", dHeap/n, "B")
		sr.add("stack_per_conn_bytes", "goroutine stacks per connection", dStack/n, "B")
		sr.add("goroutines_per_conn", "goroutines per connection", dG/n, "")
	}
	sr.add("server_rss_bytes", "server RSS in total", rss, "B")
	sr.add("server_rss_empty_bytes", "server RSS before the connections", empty[0].RSSBytes, "B")
	for _, nd := range full {
		if nd.LastGCAgoS > 0 && nd.LastGCAgoS > hold.Seconds() {
			sr.note("%s ran no GC during the hold: its heap figure includes garbage", nd.Name)
		}
	}
	if hold < 125*time.Second {
		sr.note("hold %v: the Go runtime forces a GC only every 2 minutes; hold 180 s for figures after GC", hold)
	}
}
