package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
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

// unicastRun is a single-node unicast run at rate (0: flat out) that delivered v
// msgs/s with p99 ms and lost lost.
func unicastRun(rate, v, p99, lost float64) *ScenarioResult {
	s := &ScenarioResult{Name: "unicast", Label: fmtNum(rate), Status: statusOK, Latency: &Latency{P99: p99},
		Params: Params{Server: kindHerald, Mode: modeUnicast, Clients: 10000, Nodes: 1, Rate: rate}}
	s.add("delivered_per_s", "", v, "msgs/s")
	s.add("lost", "", lost, "")
	return s
}

func basicInput() planInput {
	return planInput{users: 100_000, perUser: 1, rate: 10_000, p99: 100, headroom: 0.5, active: 1, histSize: 1000, histTTL: time.Hour, ingressSecs: 10}
}

func TestPlanRefusesBadInput(t *testing.T) {
	res := &Results{Scenarios: []*ScenarioResult{unicastRun(0, 1000, 1, 0)}}
	for _, mod := range []func(*planInput){
		func(in *planInput) { in.users = 0 },
		func(in *planInput) { in.perUser = 0 },
		func(in *planInput) { in.rate = -1 },
		func(in *planInput) { in.headroom = 0 },
		func(in *planInput) { in.headroom = 1.01 },
	} {
		in := basicInput()
		mod(&in)
		if _, err := makePlan(res, in); err == nil || !strings.HasPrefix(err.Error(), "plan: ") {
			t.Errorf("%+v: %v", in, err)
		}
	}
	in := basicInput()
	in.headroom = 1
	if _, err := makePlan(res, in); err != nil {
		t.Errorf("headroom 1: %v", err)
	}
}

// Only successful single-node unicast runs with a latency say what a node routes.
func TestPlanNeedsASingleNodeUnicastRun(t *testing.T) {
	failed := unicastRun(0, 1000, 1, 0)
	failed.Status = statusFailed
	two := unicastRun(0, 1000, 1, 0)
	two.Params.Nodes = 2
	noLat := unicastRun(0, 1000, 1, 0)
	noLat.Latency = nil
	cluster := unicastRun(0, 1000, 1, 0)
	cluster.Name = "cluster"
	res := &Results{Scenarios: []*ScenarioResult{failed, two, noLat, cluster}}
	if _, err := makePlan(res, basicInput()); err == nil || !strings.Contains(err.Error(), "no successful single-node unicast run") {
		t.Errorf("plan without a usable run: %v", err)
	}
}

// The per-node rate: the fastest run that met the p99 without loss, times the
// headroom; else the fastest flat-out run, with a warning.
func TestPlanPerNodeRate(t *testing.T) {
	for _, tc := range []struct {
		name       string
		runs       []*ScenarioResult
		p99        float64
		wantRate   float64
		wantSource string
		wantWarn   string
	}{
		{"paced runs: the fastest within the p99", []*ScenarioResult{unicastRun(2000, 2000, 3, 0), unicastRun(20000, 20000, 40, 0), unicastRun(0, 40000, 150, 0)},
			50, 10000, "20,000: 20,000 msgs/s with p99 40 ms (<= 50 ms), times headroom 50%", "the flat-out run (40,000 msgs/s, p99 150 ms) missed the p99"},
		{"a lossy run does not count", []*ScenarioResult{unicastRun(2000, 2000, 3, 0), unicastRun(20000, 20000, 10, 5)},
			50, 1000, "2,000: 2,000 msgs/s", ""},
		{"flat out within the p99", []*ScenarioResult{unicastRun(2000, 2000, 3, 0), unicastRun(0, 40000, 30, 0)},
			50, 20000, "0: 40,000 msgs/s with p99 30 ms", ""},
		{"none within: the fastest flat out", []*ScenarioResult{unicastRun(0, 30000, 90, 0), unicastRun(0, 40000, 95, 0), unicastRun(2000, 2000, 70, 0)},
			5, 20000, "0: 40,000 msgs/s flat out, times headroom 50%", "no unicast run met p99 <= 5 ms without loss: the per-node rate is the flat-out throughput, whose p99 was 95 ms"},
	} {
		in := basicInput()
		in.p99 = tc.p99
		p, err := makePlan(&Results{Scenarios: tc.runs}, in)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if p.MsgsPerNode != tc.wantRate || !strings.HasPrefix(p.MsgsPerNodeSource, tc.wantSource) {
			t.Errorf("%s: %v from %q", tc.name, p.MsgsPerNode, p.MsgsPerNodeSource)
		}
		warned := strings.Join(p.Warnings, "\n")
		if tc.wantWarn != "" && !strings.Contains(warned, tc.wantWarn) || tc.wantWarn == "" && strings.Contains(warned, "p99") {
			t.Errorf("%s: warnings %q", tc.name, p.Warnings)
		}
	}
}

// Connections per node: the open-file limit less 500, or the memory of idle
// connections when that is lower; the idle run with the most connections counts.
func TestPlanConnectionsPerNode(t *testing.T) {
	idle := func(clients int, per float64) *ScenarioResult {
		s := &ScenarioResult{Name: "idle", Status: statusOK, Params: Params{Server: kindHerald, Clients: clients}}
		s.add("rss_per_conn_bytes", "", per, "B")
		s.add("server_rss_empty_bytes", "", 1<<30, "B")
		return s
	}
	res := &Results{Machine: Machine{RAMBytes: 8 << 30, FDLimit: 1024}, Scenarios: []*ScenarioResult{unicastRun(0, 1e6, 1, 0)}}
	p, err := makePlan(res, basicInput())
	if err != nil {
		t.Fatal(err)
	}
	if p.ConnsPerNode != 524 || p.NodesForConns != 191 || !strings.Contains(strings.Join(p.Warnings, "\n"), "no idle run") {
		t.Errorf("fd limit 1024: %v per node, %d nodes, %v", p.ConnsPerNode, p.NodesForConns, p.Warnings)
	}
	// 8 GiB x 0.5 - 1 GiB of an empty node, at 8 KiB: 393,216 connections, above
	// the open-file limit, which binds.
	res.Machine.FDLimit = 0
	res.Scenarios = append(res.Scenarios, idle(100, 1e9), idle(10000, 8192))
	if p, err = makePlan(res, basicInput()); err != nil {
		t.Fatal(err)
	}
	if p.ConnsPerNode != maxConnsPerNode || !strings.Contains(p.ConnsPerNodeLimit, "(memory would allow 393216: 8192 B per idle connection)") {
		t.Errorf("open files bind: %v, %q", p.ConnsPerNode, p.ConnsPerNodeLimit)
	}
	// On 2.25 GiB nodes memory binds: (1.125 GiB - 1 GiB) / 8 KiB = 16,384.
	in := basicInput()
	in.nodeRAM = 9 << 28
	if p, err = makePlan(res, in); err != nil {
		t.Fatal(err)
	}
	if p.ConnsPerNode != 16384 || p.NodesForConns != 7 || !strings.HasPrefix(p.ConnsPerNodeLimit, "memory: 8192 B RSS per idle connection (idle, 10000 connections), 50% of") {
		t.Errorf("memory binds: %v, %d nodes, %q", p.ConnsPerNode, p.NodesForConns, p.ConnsPerNodeLimit)
	}
}

// Nodes are the larger of the two needs, at least one; the binding says which.
func TestPlanNodesAndBinding(t *testing.T) {
	res := &Results{Machine: Machine{FDLimit: 20000, Cores: 8}, Scenarios: []*ScenarioResult{unicastRun(0, 10000, 1, 0)}}
	in := basicInput()
	in.users, in.rate, in.perUser = 1, 0, 1
	p, err := makePlan(res, in)
	if err != nil {
		t.Fatal(err)
	}
	if p.Nodes != 1 || p.NodesForConns != 1 || p.NodesForRate != 0 || !strings.HasPrefix(p.Binding, "connections per node") {
		t.Errorf("tiny load: %+v", p)
	}
	in.users, in.rate, in.perUser = 1000, 100000, 2 // 200,000 deliveries/s at 5,000 per node
	if p, err = makePlan(res, in); err != nil {
		t.Fatal(err)
	}
	if p.NodesForRate != 40 || p.Nodes != 40 || !strings.HasPrefix(p.Binding, "messages/s per node (0: 10,000 msgs/s") {
		t.Errorf("rate binds: %d for rate, %d nodes, %q", p.NodesForRate, p.Nodes, p.Binding)
	}
	for _, w := range p.Warnings {
		if strings.HasPrefix(w, "measured on") {
			t.Errorf("an 8-core measurement warned: %q", w)
		}
	}
}

// Redis: routing throughput from the fastest run's CPU per message (unicast or
// cluster), memory from the model; shards are the larger need.
func TestPlanRedis(t *testing.T) {
	slow := unicastRun(2000, 2000, 1, 0)
	slow.add("redis_cpu_us_per_msg", "", 40, "µs")
	fast := unicastRun(0, 40000, 1, 0)
	fast.add("redis_cpu_us_per_msg", "", 10, "µs")
	res := &Results{Machine: Machine{RAMBytes: 1 << 30, Cores: 2}, Scenarios: []*ScenarioResult{slow, fast}}
	in := basicInput()
	in.rate = 120000
	p, err := makePlan(res, in)
	if err != nil {
		t.Fatal(err)
	}
	// 1e6 / 10 µs x 0.5 = 50,000 msgs/s per Redis: 3 for 120,000.
	if p.RedisMsgsPerS != 50000 || p.RedisShardsForRate != 3 || !strings.HasPrefix(p.RedisMsgsSource, "0: 10.0 µs of Redis CPU per message") {
		t.Errorf("redis rate: %v per s, %d shards, %q", p.RedisMsgsPerS, p.RedisShardsForRate, p.RedisMsgsSource)
	}
	wantMem := int(math.Ceil(p.RedisMemoryBytes / (0.5 * (1 << 30))))
	if p.RedisShardsForMem != wantMem || p.RedisShards != max(3, wantMem) {
		t.Errorf("redis memory %v B: %d shards for memory, %d in all", p.RedisMemoryBytes, p.RedisShardsForMem, p.RedisShards)
	}
	warned := strings.Join(p.Warnings, "\n")
	if !strings.Contains(warned, "more than one Redis") || !strings.Contains(warned, "measured on 2 cores") {
		t.Errorf("warnings %q", p.Warnings)
	}
	res.Scenarios = []*ScenarioResult{unicastRun(0, 40000, 1, 0)}
	if p, err = makePlan(res, in); err != nil {
		t.Fatal(err)
	}
	if p.RedisMsgsPerS != 0 || p.RedisShardsForRate != 0 || !strings.Contains(strings.Join(p.Warnings, "\n"), "no Redis CPU figure") {
		t.Errorf("without Redis CPU: %+v", p)
	}
}

// printPlan says the binding of Redis: throughput or memory.
func TestPrintPlan(t *testing.T) {
	res := &Results{Machine: Machine{CPUModel: "cpu", Cores: 2, RAMBytes: 4 << 30, HeraldCommit: "abcdef0123456789"}, Scenarios: []*ScenarioResult{unicastRun(0, 40000, 1, 0)}}
	p := &Plan{Users: 1000, ConnsPerUser: 1.5, Rate: 20000, P99Ms: 100, Nodes: 3, Binding: "b", RedisShards: 4, RedisShardsForRate: 4, RedisShardsForMem: 1,
		RedisMsgsPerS: 5000.7, RedisMsgsSource: "src", RedisMemoryBytes: 1 << 30, RedisMemoryDetail: "detail", Warnings: []string{" w1 ", "w2"}}
	var b bytes.Buffer
	printPlan(&b, res, p)
	out := b.String()
	for _, want := range []string{
		"plan for 1,000 users x 1.5 connections, 20,000 msgs/s, p99 <= 100 ms\n",
		"from 1 runs measured on cpu (2 cores, 4 GiB), herald abcdef012345\n",
		"herald nodes:   3   (binding: b)\n",
		"redis:          4 instance(s)   (binding: throughput)\n",
		"  throughput: 4 for 20,000 msgs/s at 5,000 msgs/s per instance; from src\n",
		"  memory:     1 for 1.0 GiB: detail\n",
		"\nnotes:\n  - w1\n  - w2\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
	p.RedisShardsForRate, p.RedisMsgsPerS, p.Warnings = 0, 0, nil
	b.Reset()
	printPlan(&b, res, p)
	if out := b.String(); !strings.Contains(out, "(binding: memory)") || strings.Contains(out, "throughput:") || strings.Contains(out, "notes:") {
		t.Errorf("memory-bound plan:\n%s", out)
	}
}

func TestRunPlanCommandLine(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	ra := &Results{Machine: Machine{CPUModel: "first", Cores: 2, RAMBytes: 8 << 30, FDLimit: 20000}, Scenarios: []*ScenarioResult{unicastRun(0, 40000, 1, 0)}}
	rb := &Results{Machine: Machine{CPUModel: "second"}, Scenarios: []*ScenarioResult{unicastRun(20000, 20000, 1, 0)}}
	if err := writeJSON(a, ra); err != nil {
		t.Fatal(err)
	}
	if err := writeJSON(b, rb); err != nil {
		t.Fatal(err)
	}
	merged, err := readResultsFiles([]string{a, b})
	if err != nil || merged.Machine.CPUModel != "first" || len(merged.Scenarios) != 2 {
		t.Fatalf("merged %+v, %v", merged, err)
	}
	var out bytes.Buffer
	if err := runPlan([]string{"--from", a + "," + b, "--users", "5000", "--rate", "100", "--json"}, &out); err != nil {
		t.Fatal(err)
	}
	var p Plan
	if err := json.Unmarshal(out.Bytes(), &p); err != nil || p.Users != 5000 || p.Rate != 100 || p.Nodes != 1 || p.MsgsPerNode != 28000 {
		t.Errorf("--json: %+v %v\n%s", p, err, out.String())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", filepath.Join(dir, "none.json")}, "no such file"},
		{[]string{"--from="}, "plan: --from names no results.json"},
		{[]string{"--from", a, "--compare-ttl", "soon"}, `plan: --compare-ttl: "soon" is not a positive duration`},
		{[]string{"--from", a, "--compare-size", "0"}, `plan: --compare-size: "0" is not a positive count`},
		{[]string{"--from", a, "--headroom", "2"}, "--headroom in (0,1]"},
		{[]string{"--from", a, "--users", "x"}, `invalid argument "x"`},
	} {
		out.Reset()
		if err := runPlan(tc.args, &out); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("plan %q: %v, want %q", tc.args, err, tc.want)
		}
	}
}
