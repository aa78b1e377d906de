package bench

import (
	"context"
	"fmt"
	"path/filepath"
)

// maxConnsPerNode is what one node process can hold under the 20,000 open-file
// limit, leaving room for its Redis connections and listener.
const maxConnsPerNode = 19_500

// scenarioNames lists every scenario, in the order `all` runs them.
var scenarioNames = []string{"baseline", "unicast", "connect", "idle", "failover", "cluster", "baseline-broadcast", "broadcast", "redis-memory", "baseline-idle"}

// runScenario runs one named scenario, at each rate where rates apply.
func (r *runner) runScenario(ctx context.Context, idx int, name string) []*ScenarioResult {
	dir := func(label string) string {
		return filepath.Join(r.cfg.Out, fmt.Sprintf("%02d-%s", idx, sanitize(label)))
	}
	switch name {
	case "baseline", "unicast", "cluster":
		return r.deliveryAtRates(ctx, name, dir)
	case "baseline-broadcast":
		return []*ScenarioResult{r.delivery(ctx, deliveryOpts{name: name, kind: kindBaseline, mode: modeBroadcast, nodes: 1}, dir)}
	case "broadcast":
		return []*ScenarioResult{r.delivery(ctx, deliveryOpts{name: name, kind: kindHerald, mode: modeBroadcast, nodes: r.nodes(1)}, dir)}
	case "failover":
		rate := 1000.0
		if len(r.cfg.Rates) > 0 && r.cfg.Rates[0] > 0 {
			rate = r.cfg.Rates[0]
		}
		o := deliveryOpts{name: name, kind: kindHerald, mode: modeUnicast, nodes: max(2, r.nodes(2)), rate: rate, failover: true}
		return []*ScenarioResult{r.delivery(ctx, o, dir)}
	case "connect":
		return []*ScenarioResult{r.connectScenario(ctx, dir)}
	case "idle":
		return []*ScenarioResult{r.idleScenario(ctx, kindHerald, dir)}
	case "baseline-idle":
		return []*ScenarioResult{r.idleScenario(ctx, kindBaseline, dir)}
	case "redis-memory":
		return []*ScenarioResult{r.redisMemoryScenario(ctx, dir)}
	}
	return nil
}

// deliveryAtRates runs a unicast scenario once per --rate; cluster adds a
// broadcast run over its nodes.
func (r *runner) deliveryAtRates(ctx context.Context, name string, dir func(string) string) []*ScenarioResult {
	o := deliveryOpts{name: name, kind: kindHerald, mode: modeUnicast, nodes: r.nodes(1)}
	switch name {
	case "baseline":
		o.kind, o.nodes = kindBaseline, 1
	case "cluster":
		o.nodes = r.nodes(3)
	}
	var out []*ScenarioResult
	for _, rate := range r.cfg.Rates {
		if ctx.Err() != nil {
			return out
		}
		o.rate = rate
		out = append(out, r.delivery(ctx, o, dir))
	}
	if name == "cluster" && ctx.Err() == nil {
		out = append(out, r.delivery(ctx, deliveryOpts{name: name, kind: kindHerald, mode: modeBroadcast, nodes: r.nodes(3)}, dir))
	}
	return out
}

// nodes is --nodes, or def when it was not given.
func (r *runner) nodes(def int) int {
	if len(r.cfg.Target) > 0 {
		return len(r.cfg.Target)
	}
	if r.cfg.Nodes > 0 {
		return r.cfg.Nodes
	}
	return def
}

// sanitize makes a label a file name and an HTML anchor.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}
