package bench

import (
	"strings"
	"testing"
	"time"
)

func TestPlanBindingLimits(t *testing.T) {
	res := &Results{Machine: Machine{Cores: 2, RAMBytes: 24 << 30, FDLimit: 20000}}
	idle := &ScenarioResult{Name: "idle", Status: statusOK, Params: Params{Server: kindHerald, Clients: 10000}}
	idle.add("rss_per_conn_bytes", "", 8000, "B")
	idle.add("server_rss_empty_bytes", "", 30<<20, "B")
	uni := &ScenarioResult{Name: "unicast", Label: "unicast@20000/s", Status: statusOK, Params: Params{Server: kindHerald, Mode: modeUnicast, Clients: 10000, Nodes: 1, Rate: 20000},
		Latency: &Latency{P99: 20}, Redis: &RedisStats{PerRecipientBytes: 4752, PerEntryBytes: 160, IngressEntryBytes: 130, HistorySampled: 200}}
	uni.add("delivered_per_s", "", 20000, "")
	uni.add("lost", "", 0, "")
	uni.add("published", "", 200000, "")
	uni.add("redis_cpu_us_per_msg", "", 20, "µs")
	res.Scenarios = []*ScenarioResult{idle, uni}
	in := planInput{users: 1_000_000, perUser: 1, rate: 20000, p99: 100, headroom: 0.7, active: 1, histSize: 1000, histTTL: 24 * time.Hour, ingressSecs: 10}
	p, err := makePlan(res, in)
	if err != nil {
		t.Fatal(err)
	}
	// 1M connections at 19,500 per node (open files bind before memory) = 52 nodes;
	// 20,000 msgs/s at 14,000 per node = 2 nodes.
	if p.NodesForConns != 52 || p.NodesForRate != 2 || p.Nodes != 52 || !strings.HasPrefix(p.Binding, "connections") {
		t.Errorf("plan: %+v", p)
	}
	in.rate = 2_000_000
	if p, err = makePlan(res, in); err != nil {
		t.Fatal(err)
	}
	if p.NodesForRate != 143 || !strings.HasPrefix(p.Binding, "messages") || p.RedisShardsForRate != 58 {
		t.Errorf("plan at 2M msgs/s: nodes for rate %d, binding %s, redis for rate %d", p.NodesForRate, p.Binding, p.RedisShardsForRate)
	}
	in.p99 = 5 // no run meets it: falls back with a warning
	uni.Params.Rate = 0
	if p, err = makePlan(res, in); err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) == 0 {
		t.Error("no warning when no run met the p99")
	}
}
