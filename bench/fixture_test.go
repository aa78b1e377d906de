package bench

import (
	"context"
	"strconv"
	"time"
)

// fixtureResults is a run of every kind of scenario, with every part of the
// results schema filled, and figures chosen so that each target can be told met
// or missed. It is built here rather than measured: the tests of the reports,
// targets and schema must not depend on a load run.
func fixtureResults() *Results {
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	r := &Results{
		Tool: "herald bench", Schema: 1,
		Command: []string{"herald", "bench", "baseline,unicast,idle,connect,failover,broadcast,redis-memory", "--clients", "10000"},
		Started: t0, Finished: t0.Add(10 * time.Minute),
		Machine: Machine{Hostname: "bench-host", CPUModel: "AMD EPYC", Cores: 2, RAMBytes: 24 << 30, Kernel: "6.1", OS: "linux/amd64",
			GoVersion: "go1.26.8", RedisVersion: "7.0.15", HeraldCommit: "0123456789abcdef0123", HeraldModified: true,
			CommitSource: "build info of the binary", HeraldBinary: "/tmp/herald", HeraldSHA256: "ab", FDLimit: 20000, LoadAvg: [3]float64{1.5, 1.25, 1}},
		Config: Config{Scenarios: []string{"baseline", "unicast"}, Clients: 10000, Rates: []float64{2000, 0}, Duration: 20 * time.Second,
			Payload: 100, Secret: "never-written", Prefix: "herald", Partitions: 1},
	}
	r.Scenarios = []*ScenarioResult{
		fixtureDelivery("baseline", "baseline@max", kindBaseline, 0, 80000, 0.4),
		fixtureDelivery("baseline", "baseline@2000/s", kindBaseline, 2000, 2000, 0.2),
		fixtureDelivery("unicast", "unicast@max", kindHerald, 0, 44000, 60),
		fixtureDelivery("unicast", "unicast@2000/s", kindHerald, 2000, 2000, 2.5),
		fixtureIdle(), fixtureConnect(), fixtureFailover(), fixtureNotSupported(), fixtureCurveRun(),
	}
	u := r.Scenarios[2]
	for i := 0; i < 12; i++ { // the report shows the ten busiest
		u.Redis.Commands = append(u.Redis.Commands, CommandStat{Command: "cmd" + strconv.Itoa(i), Calls: 1, Usec: 1, UsecPerCall: 1})
	}
	u.note("<script>alert(1)</script>") // escaped in the report
	for i, s := range r.Scenarios {
		s.Started = t0.Add(time.Duration(i) * time.Minute)
		s.Finished = s.Started.Add(30 * time.Second)
	}
	return r
}

// fixtureDelivery is a delivery run that delivered rate msgs/s with p99 ms.
func fixtureDelivery(name, label, kind string, rate, delivered, p99 float64) *ScenarioResult {
	s := &ScenarioResult{Name: name, Label: label, Status: statusOK, LoadAvgStart: [3]float64{2, 1, 1}, LoadAvgEnd: [3]float64{2.5, 1, 1},
		Params: Params{Server: kind, Mode: modeUnicast, Clients: 10000, Nodes: 1, Rate: rate, DurationS: 20, PayloadB: 100,
			Workers: 1, SourceIPs: 16, Concurrency: 200},
		Latency: &Latency{Count: 1000, Min: 0.1, Mean: p99 / 3, P50: p99 / 4, P90: p99 / 2, P99: p99, P999: p99 * 2, P9999: p99 * 3, Max: p99 * 4,
			Spectrum: []PercentilePoint{{0, 0.1}, {50, p99 / 4}, {90, p99 / 2}, {99, p99}, {99.9, p99 * 2}, {100, p99 * 4}}},
	}
	if rate == 0 {
		s.Params.Window = 2000
	}
	s.add("published", "messages published", delivered*20, "msgs")
	s.add("delivered_per_s", "throughput while publishing", delivered, "msgs/s")
	s.add("lost", "lost", 0, "")
	s.add("duplicated", "duplicated (same message again)", 0, "")
	for i := 0; i < 4; i++ {
		s.Timeline = append(s.Timeline, Sample{T: float64(i), Phase: "measure", Connected: 10000, Published: delivered, Delivered: delivered,
			P50: p99 / 4, P99: p99, Max: p99 * 4, NodeRSSMB: 100, NodeCPUPct: 90, RedisCPUPct: 40, ClientCPUPct: 50, HostTakenPct: 6})
	}
	s.Nodes = []NodeStats{{Name: "node 0", Addr: "http://127.0.0.1:1", PID: 42, RSSBytes: 100 << 20, RSSSource: "/proc/pid/status VmRSS",
		HeapInuse: 50 << 20, StackInuse: 20 << 20, Goroutines: 10050, Sessions: 10000, CPUSeconds: 18, PushesOut: delivered * 20}}
	if kind == kindHerald {
		s.add("redis_cpu_us_per_msg", "Redis CPU per published message", 10, "µs")
		s.Redis = &RedisStats{Addr: "127.0.0.1:2", Version: "7.0.15", UsedMemoryStart: 1e6, UsedMemoryEnd: 5e7, CPUSeconds: 8, StreamNodeMaxBytes: 4096,
			HistorySampled: 200, PerRecipientBytes: 4400, PerEntryBytes: 150, IngressEntryBytes: 136, PresenceBytes: 200,
			HistoryProbeEntries: 1000, HistoryProbeBytes: 150000, MemoryMethodComment: "MEMORY USAGE of 200 streams",
			Commands: []CommandStat{{Command: "xadd", Calls: 400000, Usec: 900000, UsecPerCall: 2.25}, {Command: "evalsha", Calls: 8000, Usec: 80000, UsecPerCall: 10}}}
		s.note("10000 clients in the bench process")
	}
	return s
}

func fixtureIdle() *ScenarioResult {
	s := &ScenarioResult{Name: "idle", Label: "idle", Status: statusOK,
		Params: Params{Server: kindHerald, Mode: modeIdle, Clients: 10000, Nodes: 1, HoldS: 180, Workers: 1, SourceIPs: 16}}
	s.add("connections", "connections open at the end", 10000, "")
	s.add("rss_per_conn_bytes", "server RSS per connection", 8037, "B")
	s.add("server_rss_empty_bytes", "server RSS before the connections", 26<<20, "B")
	s.Timeline = []Sample{{T: 0, Phase: "connect", Connected: 5000, NodeRSSMB: 60}, {T: 1, Phase: "hold", Connected: 10000, NodeRSSMB: 100}}
	return s
}

func fixtureConnect() *ScenarioResult {
	s := &ScenarioResult{Name: "connect", Label: "connect", Status: statusOK,
		Params: Params{Server: kindHerald, Mode: modeIdle, Clients: 10000, Nodes: 1, Concurrency: 200},
		Handshake: &Latency{Count: 10000, P50: 32, P90: 55, P99: 78.8, P999: 103, P9999: 113, Max: 113,
			Spectrum: []PercentilePoint{{0, 1}, {50, 32}, {99, 78.8}, {100, 113}}}}
	s.add("sessions", "sessions opened", 10000, "")
	s.add("sessions_per_s", "session set-up rate (welcome received)", 5674, "sessions/s")
	return s
}

func fixtureFailover() *ScenarioResult {
	s := fixtureDelivery("failover", "failover@2000/s", kindHerald, 2000, 2000, 30)
	s.Params.Nodes = 2
	s.add("back_s", "kill to the last client's welcome on a live node", 1.18, "s")
	s.Reconnect = &Latency{Count: 5000, P50: 400, P99: 1100, Max: 1180, Spectrum: []PercentilePoint{{0, 100}, {50, 400}, {100, 1180}}}
	s.Nodes = append(s.Nodes, NodeStats{Name: "node 1", Addr: "http://127.0.0.1:3", Killed: true, HeldLease: true, MetricsError: "not running"})
	s.note("the killed node held the ingress lease")
	return s
}

func fixtureNotSupported() *ScenarioResult {
	return &ScenarioResult{Name: "broadcast", Label: "broadcast@max", Status: statusNotSupported,
		Error:  "not supported by this node: u0: error frame not_supported: topics are off",
		Params: Params{Server: kindHerald, Mode: modeBroadcast, Clients: 10000, Nodes: 1, Window: 4}}
}

func fixtureCurveRun() *ScenarioResult {
	c := testCurve()
	c.Method = "per value, its own redis-server"
	for _, v := range []int64{4096, 1024} {
		c.CPU = append(c.CPU,
			CurveCPU{NodeMaxBytes: v, Op: "xadd", Label: "history append", Calls: 50000, UsecPerCall: 2, MinUsec: 1.5, MaxUsec: 3, Runs: []float64{1.5, 2, 3}, CPUPerCall: 4, CPURuns: []float64{4}},
			CurveCPU{NodeMaxBytes: v, Op: "xrange", Label: "replay page", Calls: 10000, UsecPerCall: float64(v) / 40, MinUsec: float64(v) / 50, MaxUsec: float64(v) / 30, Runs: []float64{1}, CPUPerCall: 120})
	}
	s := &ScenarioResult{Name: "redis-memory", Label: "redis-memory", Status: statusOK, Curve: c,
		Params: Params{Server: "redis", Mode: "memory", Clients: 100, PayloadB: 100}}
	addCurveFigures(s, c, 4096)
	addCurveFigures(s, c, 1024)
	return s
}

// fakeSource is a source whose counts a test sets.
type fakeSource struct {
	pub, exp, errs int64
	first          string
	runErr         error
}

func (f *fakeSource) run(context.Context, pubPlan) error { return f.runErr }
func (f *fakeSource) published() int64                   { return f.pub }
func (f *fakeSource) expected() int64                    { return f.exp }
func (f *fakeSource) errorCount() int64                  { return f.errs }
func (f *fakeSource) firstError() string                 { return f.first }
