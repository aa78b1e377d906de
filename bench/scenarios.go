package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// maxConnsPerNode is what one node process can hold under the 20,000 open-file
// limit, leaving room for its Redis connections and listener.
const maxConnsPerNode = 19_500

// deliveryOpts selects a delivery scenario: messages published and received.
type deliveryOpts struct {
	name     string
	kind     string // kindHerald or kindBaseline
	mode     string // modeUnicast or modeBroadcast
	nodes    int
	rate     float64 // 0 = flat out
	failover bool
}

func (o deliveryOpts) label() string {
	l := o.name
	if o.name == "cluster" {
		l += "-" + o.mode
	}
	if o.rate <= 0 {
		return l + "@max"
	}
	return l + "@" + strconv.FormatFloat(o.rate, 'f', -1, 64) + "/s"
}

var errNotSupported = errors.New("not supported by this node")

// delivery runs one delivery scenario.
func (r *runner) delivery(ctx context.Context, o deliveryOpts, dirOf func(string) string) *ScenarioResult {
	window := r.cfg.Window
	if window <= 0 {
		window = 2000
		if o.mode == modeBroadcast {
			window = 4
		}
	}
	p := Params{
		Server: o.kind, Mode: o.mode, Clients: r.cfg.Clients, Nodes: o.nodes, Rate: o.rate,
		DurationS: r.cfg.Duration.Seconds(), PayloadB: r.cfg.Payload, Concurrency: r.cfg.Concurrency,
		External: o.kind == kindHerald && (len(r.cfg.Target) > 0 || r.cfg.Redis != ""),
	}
	if o.rate <= 0 {
		p.Window = window
	}
	sr := r.newResult(o.name, o.label(), p)
	err := r.deliveryRun(ctx, o, sr, dirOf(o.label()), int64(window))
	if errors.Is(err, errNotSupported) {
		err = nil
	}
	return r.finish(sr, err)
}

// usage is a CPU and memory reading of the servers and Redis.
type usage struct {
	at        time.Time
	nodeCPU   []float64 // per node, seconds; NaN when unknown
	redisCPU  float64
	redisMem  float64
	clientCPU float64 // the bench process and its workers, seconds
	redisCmds map[string]cmdStat
	host      hostSample
}

func (r *runner) usage(ctx context.Context, e *env, pool *clientPool) usage {
	u := usage{at: time.Now(), redisCPU: math.NaN(), host: readHost()}
	if pool != nil {
		for _, pid := range pool.pids() {
			if c, ok := procCPU(pid); ok {
				u.clientCPU += c
			}
		}
	}
	for i := range e.urls {
		v := math.NaN()
		if p := e.procs[i]; p != nil {
			if p.alive() {
				if c, ok := procCPU(p.PID()); ok {
					v = c
				}
			}
		} else if m, err := scrapeMetrics(ctx, e.bases[i]+"/metrics"); err == nil {
			if c, ok := m["process_cpu_seconds_total"]; ok {
				v = c
			}
		}
		u.nodeCPU = append(u.nodeCPU, v)
	}
	if e.rdb != nil {
		if c, ok := redisCPU(ctx, e.rdb); ok {
			u.redisCPU = c
		}
		u.redisMem = redisUsedMemory(ctx, e.rdb)
		u.redisCmds = redisCommandStats(ctx, e.rdb)
	}
	return u
}

// cpuBetween is the CPU seconds the nodes used between a and b (nodes known at both).
func cpuBetween(a, b usage) (float64, int) {
	var sum float64
	n := 0
	for i := range a.nodeCPU {
		if i < len(b.nodeCPU) && !math.IsNaN(a.nodeCPU[i]) && !math.IsNaN(b.nodeCPU[i]) {
			sum += b.nodeCPU[i] - a.nodeCPU[i]
			n++
		}
	}
	return sum, n
}

func (r *runner) deliveryRun(ctx context.Context, o deliveryOpts, sr *ScenarioResult, dir string, window int64) error {
	clients := r.cfg.Clients
	if o.kind == kindBaseline && clients > maxConnsPerNode {
		return fmt.Errorf("the baseline server is one process: at most %d clients under the open-file limit", maxConnsPerNode)
	}
	if o.kind == kindHerald && clients > o.nodes*maxConnsPerNode && len(r.cfg.Target) == 0 {
		o.nodes = (clients + maxConnsPerNode - 1) / maxConnsPerNode
		sr.Params.Nodes = o.nodes
		sr.note("%d nodes: one node holds at most %d connections under the 20,000 open-file limit", o.nodes, maxConnsPerNode)
	}
	e, err := r.startEnv(ctx, o.kind, o.nodes, dir)
	if err != nil {
		return err
	}
	defer e.close()
	sr.Params.Nodes = len(e.urls)
	if o.failover && (e.external || len(e.procs) < 2) {
		return errors.New("failover needs 2 or more nodes started by the bench (not --target)")
	}
	pool, err := r.openPool(e, clients, o.mode, o.failover, dir)
	if err != nil {
		return err
	}
	defer pool.close()
	sr.Params.Workers, sr.Params.SourceIPs = pool.processes, len(pool.sourceIPs)
	sr.note("%s", pool.describe())
	fanout := int64(1)
	if o.mode == modeBroadcast {
		fanout = int64(clients)
	}
	mon := r.startMonitor(sr, e, pool, fanout)
	defer mon.halt()

	mon.setPhase("connect")
	cs, err := pool.connectAll(ctx, r.cfg.Concurrency)
	if err != nil {
		return err
	}
	sr.add("connect_s", "time to connect all clients", cs.End.Sub(cs.Start).Seconds(), "s")

	var src source
	var rs *redisSource
	var hist historySample
	if o.kind == kindBaseline {
		src = newBaselineSource(e, o.mode, clients, r.cfg.Topic, r.cfg)
	} else {
		rs = newRedisSource(e, o.mode, clients, r.cfg.Topic, r.cfg)
		rs.fanout = fanout
		src = rs
		mon.setPhase("warmup")
		if o.mode == modeBroadcast {
			if err := pool.subscribe(r.cfg.Topic); err != nil {
				return fmt.Errorf("subscribe: %w", err)
			}
		}
		if err := r.warmUp(ctx, rs, pool, clients, o.mode, sr); err != nil {
			return err
		}
		if o.mode == modeUnicast {
			hist = r.sampleHistory(ctx, e, clients)
		}
	}

	before := r.usage(ctx, e, pool)
	var latBefore []map[string]bucketCounts
	if o.kind == kindHerald {
		latBefore = r.nodeLatencies(ctx, e)
	}
	mon.setSource(src)
	mon.setPhase("measure")
	t0 := time.Now()
	var kill killInfo
	killDone := make(chan struct{})
	if o.failover {
		go func() {
			defer close(killDone)
			r.killOne(ctx, e, t0, &kill)
		}()
	} else {
		close(killDone)
	}
	stall := 10 * time.Second
	if o.failover {
		stall = 60 * time.Second
	}
	pubErr := src.run(ctx, pubPlan{rate: o.rate, dur: r.cfg.Duration, window: window, fanout: fanout, delivery: pool.delivered, stall: stall})
	t1 := time.Now()
	<-killDone
	atT1 := pool.delivered()
	after := r.usage(ctx, e, pool)
	if pubErr != nil {
		if ctx.Err() != nil {
			return pubErr
		}
		sr.note("publisher: %v", pubErr)
	}

	mon.setPhase("drain")
	expected := src.expected()
	deadline := t1.Add(r.cfg.Drain)
	for pool.delivered() < expected && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	tEnd := time.Now()
	var latAfter []map[string]bucketCounts
	if o.kind == kindHerald {
		latAfter = r.nodeLatencies(ctx, e)
	}
	mon.halt()
	fin, lat, rec, err := pool.final()
	if err != nil {
		return err
	}

	// Figures.
	pubWin := t1.Sub(t0).Seconds()
	published := src.published()
	sr.add("published", "messages published", float64(published), "msgs")
	sr.add("publish_rate", "publish rate achieved", float64(published)/pubWin, "msgs/s")
	if o.mode == modeBroadcast {
		sr.add("expected", "deliveries expected", float64(expected), "deliveries")
	}
	sr.add("delivered", "delivered (distinct)", float64(fin.Distinct), "")
	lost := expected - fin.Distinct
	if lost < 0 {
		sr.note("%d more distinct deliveries than expected", -lost)
		lost = 0
	}
	sr.add("lost", "lost", float64(lost), "")
	sr.add("duplicated", "duplicated (same message again)", float64(fin.Dup), "")
	if fin.Misrouted > 0 {
		sr.add("misrouted", "pushes for another user", float64(fin.Misrouted), "")
	}
	if fin.Bad > 0 {
		sr.add("bad_payloads", "payloads that did not parse", float64(fin.Bad), "")
	}
	if n := src.errorCount(); n > 0 {
		sr.add("publish_errors", "publish errors", float64(n), "")
		sr.note("first publish error: %s", src.firstError())
	}
	sr.add("delivered_per_s", "throughput while publishing", float64(atT1)/pubWin, "msgs/s")
	if fin.LastDelivery > 0 {
		sr.add("delivered_per_s_total", "throughput incl. drain (all deliveries / first publish to last delivery)",
			float64(fin.Distinct)/time.Unix(0, fin.LastDelivery).Sub(t0).Seconds(), "msgs/s")
	}
	if med, p99, n := steadyState(sr.Timeline); n >= 3 {
		sr.add("delivered_per_s_median_1s", "median of the per-second throughputs while publishing", med, "msgs/s")
		sr.add("p99_median_1s_ms", "median of the per-second p99 latencies while publishing", p99, "ms")
	}
	sr.add("drain_s", "drain after publishing stopped", tEnd.Sub(t1).Seconds(), "s")
	sr.Latency = summarize(lat)
	addNodeLatencies(sr, latBefore, latAfter)
	if cpu, n := cpuBetween(before, after); n > 0 {
		sr.add("server_cpu_pct", "server CPU while publishing (100% = one core)", cpu/pubWin*100, "%")
		if atT1 > 0 {
			sr.add("server_cpu_us_per_msg", "server CPU per delivery", cpu/float64(atT1)*1e6, "µs")
		}
	}
	sr.add("client_cpu_pct", "bench clients and publisher CPU while publishing", (after.clientCPU-before.clientCPU)/pubWin*100, "%")
	if pct, ok := hostTakenPct(before.host, after.host); ok {
		sr.add("host_taken_pct", "CPU time the host took from this machine while publishing (steal, or accounted to nothing; 100% = one core)", pct, "%")
	}
	if !math.IsNaN(before.redisCPU) && !math.IsNaN(after.redisCPU) {
		rc := after.redisCPU - before.redisCPU
		sr.add("redis_cpu_pct", "Redis CPU while publishing", rc/pubWin*100, "%")
		if published > 0 {
			sr.add("redis_cpu_us_per_msg", "Redis CPU per published message", rc/float64(published)*1e6, "µs")
		}
	}
	if fin.ErrFrames > 0 {
		sr.note("%d error frames; last: %s", fin.ErrFrames, fin.LastError)
	}
	if o.failover {
		r.failoverFigures(sr, &kill, fin, clients, len(e.urls))
		sr.Reconnect = summarize(rec)
	}
	if o.kind == kindHerald {
		sr.Redis = r.redisStats(ctx, e, hist, before, after)
		if o.mode == modeUnicast && sr.Redis != nil && sr.Redis.PerRecipientBytes > 0 {
			r.probeFullHistory(ctx, e, rs, sr.Redis)
		}
		if sr.Redis != nil && sr.Redis.PerRecipientBytes > 0 {
			sr.add("redis_bytes_per_recipient", "Redis: history stream of a recipient with 1 entry", sr.Redis.PerRecipientBytes, "B")
		}
		if sr.Redis != nil && sr.Redis.PerEntryBytes > 0 {
			sr.add("redis_bytes_per_entry", "Redis: each further history entry", sr.Redis.PerEntryBytes, "B")
		}
	}
	sr.Nodes = r.nodeStats(ctx, e, before, after)
	if kill.victim >= 0 && kill.victim < len(sr.Nodes) && kill.done {
		sr.Nodes[kill.victim].Killed = true
		sr.Nodes[kill.victim].HeldLease = kill.heldLease
	}
	var slow float64
	for _, n := range sr.Nodes {
		slow += n.SlowCloses
	}
	if slow > 0 {
		sr.note("%.0f sessions were closed as slow consumers (4008)", slow)
	}
	return nil
}

// warmUp publishes an unmeasured message to every client (or the topic) until every
// client got one: sessions are registered, presence is written, history streams
// exist. A not_supported error frame (topics on a node without them) ends it.
func (r *runner) warmUp(ctx context.Context, rs *redisSource, pool *clientPool, clients int, mode string, sr *ScenarioResult) error {
	start := time.Now()
	rs.warm(ctx)
	last := time.Now()
	for {
		t, _, err := pool.tick()
		if err != nil {
			return err
		}
		if t.NotSupported > 0 {
			sr.Status = statusNotSupported
			sr.Error = "not supported by this node: " + t.LastError
			return errNotSupported
		}
		if t.Warmed >= int64(clients) {
			sr.add("warmup_s", "warm-up (every client got a first message)", time.Since(start).Seconds(), "s")
			return nil
		}
		if time.Since(start) > 60*time.Second {
			return fmt.Errorf("warm-up: %d of %d clients got a message within 60 s (last error: %s)", t.Warmed, clients, t.LastError)
		}
		resend := 5 * time.Second
		if mode == modeBroadcast {
			resend = 500 * time.Millisecond // the subscriptions may not be in place yet
		}
		if time.Since(last) > resend {
			rs.warm(ctx)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// historySample is MEMORY USAGE of a sample of history streams after the warm-up.
type historySample struct {
	keys     []string
	presence []string
	bytes    float64 // mean
	entries  float64 // mean
	presB    float64
}

func (r *runner) sampleHistory(ctx context.Context, e *env, clients int) historySample {
	var h historySample
	step := max(1, clients/200)
	for i := 0; i < clients; i += step {
		u := userName("u", i)
		h.keys = append(h.keys, e.keys.History(wire.User(u)))
		h.presence = append(h.presence, e.keys.Presence(wire.User(u)))
	}
	h.bytes, h.entries = memUsage(ctx, e, h.keys)
	h.presB, _ = memUsage(ctx, e, h.presence)
	return h
}

// memUsage is the mean MEMORY USAGE (exact) and, for streams, the mean XLEN of keys.
func memUsage(ctx context.Context, e *env, keys []string) (bytes, entries float64) {
	if len(keys) == 0 {
		return 0, 0
	}
	pipe := e.rdb.Pipeline()
	mems := make([]*redis.IntCmd, len(keys))
	lens := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		mems[i] = pipe.MemoryUsage(ctx, k, 0)
		if strings.HasSuffix(k, ":h") {
			lens[i] = pipe.XLen(ctx, k)
		}
	}
	_, _ = pipe.Exec(ctx)
	n := 0
	for i := range keys {
		if mems[i].Val() <= 0 {
			continue
		}
		n++
		bytes += float64(mems[i].Val())
		if lens[i] != nil {
			entries += float64(lens[i].Val())
		}
	}
	if n == 0 {
		return 0, 0
	}
	return bytes / float64(n), entries / float64(n)
}

func (r *runner) redisStats(ctx context.Context, e *env, h historySample, before, after usage) *RedisStats {
	s := &RedisStats{Addr: e.redisURL, UsedMemoryStart: before.redisMem, UsedMemoryEnd: after.redisMem}
	s.Commands = commandDelta(before.redisCmds, after.redisCmds)
	if kv, err := redisInfo(ctx, e.rdb, "server"); err == nil {
		s.Version = kv["redis_version"]
	}
	s.StreamNodeMaxBytes, _ = configStreamNodeMaxBytes(ctx, e.rdb) // plan sizes memory under it
	if !math.IsNaN(before.redisCPU) && !math.IsNaN(after.redisCPU) {
		s.CPUSeconds = after.redisCPU - before.redisCPU
	}
	if len(h.keys) > 0 {
		endB, endL := memUsage(ctx, e, h.keys)
		s.HistorySampled = len(h.keys)
		s.PerRecipientBytes = h.bytes
		s.PresenceBytes = h.presB
		if endL > h.entries {
			s.PerEntryBytes = (endB - h.bytes) / (endL - h.entries)
		}
		s.MemoryMethodComment = fmt.Sprintf("MEMORY USAGE (exact) of %d history streams: %.1f entries on average after the warm-up (%.0f B), %.1f at the end (%.0f B); presence set %.0f B per connected user",
			len(h.keys), h.entries, h.bytes, endL, endB, h.presB)
	}
	in := e.keys.Ingress(0)
	if l, err := e.rdb.XLen(ctx, in).Result(); err == nil && l > 0 {
		if m, err := e.rdb.MemoryUsage(ctx, in, 0).Result(); err == nil {
			s.IngressEntryBytes = float64(m) / float64(l)
		}
	}
	return s
}

// probeFullHistory fills one recipient's history with unmeasured messages after the
// run (the first user's; its client ignores them) and measures the stream once the
// router has appended them: the per-entry cost of a long history, which short runs
// cannot show (Redis preallocates 4 KB listpack nodes, so the first ~20 entries
// cost nothing more).
func (r *runner) probeFullHistory(ctx context.Context, e *env, rs *redisSource, s *RedisStats) {
	const probe = 1500
	key := e.keys.History(wire.User(rs.users[0]))
	for n := int64(0); n < probe; n += 500 {
		rs.sendTo(ctx, 0, 500)
	}
	last, since := int64(-1), time.Now()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		l, err := e.rdb.XLen(ctx, key).Result()
		if err != nil {
			return
		}
		if l != last {
			last, since = l, time.Now()
		} else if time.Since(since) > 500*time.Millisecond {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	m, err := e.rdb.MemoryUsage(ctx, key, 0).Result()
	if err != nil || last < 100 {
		return
	}
	s.HistoryProbeEntries, s.HistoryProbeBytes = last, float64(m)
	s.PerEntryBytes = (float64(m) - s.PerRecipientBytes) / float64(last-1)
	s.MemoryMethodComment += fmt.Sprintf("; one history filled to %d entries: %.0f B, so %.0f B per further entry", last, float64(m), s.PerEntryBytes)
}

// nodeStats reads every node's memory, goroutines and counters at the end.
func (r *runner) nodeStats(ctx context.Context, e *env, before, after usage) []NodeStats {
	var out []NodeStats
	for i, base := range e.bases {
		n := NodeStats{Name: "node " + strconv.Itoa(i), Addr: base}
		if e.kind == kindBaseline {
			n.Name = "baseline"
		}
		if p := e.procs[i]; p != nil {
			n.PID = p.PID()
			if !p.alive() {
				n.MetricsError = "not running"
				out = append(out, n)
				continue
			}
			if rss, ok := procRSS(p.PID()); ok {
				n.RSSBytes, n.RSSSource = rss, "/proc/pid/status VmRSS"
			}
		}
		if i < len(before.nodeCPU) && i < len(after.nodeCPU) {
			n.CPUSeconds = after.nodeCPU[i] - before.nodeCPU[i]
			if math.IsNaN(n.CPUSeconds) {
				n.CPUSeconds = 0
			}
		}
		m, err := scrapeMetrics(ctx, base+"/metrics")
		if err != nil {
			n.MetricsError = err.Error()
			out = append(out, n)
			continue
		}
		if n.RSSSource == "" {
			n.RSSBytes, n.RSSSource = m["process_resident_memory_bytes"], "process_resident_memory_bytes"
		}
		n.HeapInuse = m["go_memstats_heap_inuse_bytes"]
		n.HeapAlloc = m["go_memstats_heap_alloc_bytes"]
		n.StackInuse = m["go_memstats_stack_inuse_bytes"]
		n.Goroutines = m["go_goroutines"]
		n.Sessions = m["herald_sessions"]
		n.PushesOut = m["herald_pushes_out_total"]
		n.SlowCloses = m["herald_slow_consumer_closes_total"]
		n.WriteErrors = m["herald_write_errors_total"]
		if gc := m["go_memstats_last_gc_time_seconds"]; gc > 0 {
			n.LastGCAgoS = float64(time.Now().UnixNano())/1e9 - gc
		}
		out = append(out, n)
	}
	return out
}

// killInfo is what the failover killer did.
type killInfo struct {
	victim    int
	at        time.Time
	heldLease bool
	done      bool
}

// killOne kills -9, --kill-after into the publishing, the node that holds the
// ingress lease (the worst case: it routes and hosts sessions), else node 0.
func (r *runner) killOne(ctx context.Context, e *env, t0 time.Time, k *killInfo) {
	k.victim = -1
	select {
	case <-time.After(time.Until(t0.Add(r.cfg.KillAfter))):
	case <-ctx.Done():
		return
	}
	k.victim = 0
	if holder, err := e.rdb.Get(ctx, e.keys.Lease(0)).Result(); err == nil {
		for i := range e.procs {
			if holder == "bench-n"+strconv.Itoa(i) {
				k.victim, k.heldLease = i, true
			}
		}
	}
	k.at = time.Now()
	e.procs[k.victim].Kill()
	k.done = true
	r.logf("killed node %d (kill -9)%s", k.victim, map[bool]string{true: ", the ingress lease holder", false: ""}[k.heldLease])
}

func (r *runner) failoverFigures(sr *ScenarioResult, k *killInfo, fin Tick, clients, nodes int) {
	if !k.done {
		sr.note("no node was killed: publishing ended before --kill-after")
		return
	}
	onVictim := 0
	for i := 0; i < clients; i++ {
		if i%nodes == k.victim {
			onVictim++
		}
	}
	sr.add("killed_node", "node killed (kill -9)", float64(k.victim), "")
	sr.add("clients_on_killed_node", "clients on the killed node", float64(onVictim), "")
	sr.add("reconnected", "clients that reconnected", float64(fin.Reconnects), "")
	sr.add("down_at_end", "clients not connected at the end", float64(fin.Down), "")
	if fin.LastUp > 0 {
		sr.add("back_s", "kill to the last client's welcome on a live node", time.Unix(0, fin.LastUp).Sub(k.at).Seconds(), "s")
	}
	if k.heldLease {
		sr.note("the killed node held the ingress lease: routing resumed on another node after streams.lease_ttl, and the entries it had read but not acknowledged were reclaimed after streams.claim_idle")
	}
}

// connectScenario opens --clients sessions, --concurrency at a time.
func (r *runner) connectScenario(ctx context.Context, dirOf func(string) string) *ScenarioResult {
	clients := r.cfg.Clients
	nodes := r.nodes((clients + maxConnsPerNode - 1) / maxConnsPerNode)
	sr := r.newResult("connect", "connect", Params{Server: kindHerald, Mode: modeIdle, Clients: clients, Nodes: nodes, Concurrency: r.cfg.Concurrency,
		External: len(r.cfg.Target) > 0 || r.cfg.Redis != ""})
	err := func() error {
		e, err := r.startEnv(ctx, kindHerald, nodes, dirOf("connect"))
		if err != nil {
			return err
		}
		defer e.close()
		pool, err := r.openPool(e, clients, modeIdle, false, dirOf("connect"))
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
		mon.halt()
		sr.Nodes = r.nodeStats(ctx, e, before, after)
		return nil
	}()
	return r.finish(sr, err)
}

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
	err := func() error {
		if kind == kindBaseline && clients > maxConnsPerNode {
			return fmt.Errorf("the baseline server is one process: at most %d connections under the open-file limit", maxConnsPerNode)
		}
		if nodes > 1 {
			sr.note("%d nodes: one node holds at most %d connections under the 20,000 open-file limit", nodes, maxConnsPerNode)
		}
		e, err := r.startEnv(ctx, kind, nodes, dirOf(name))
		if err != nil {
			return err
		}
		defer e.close()
		pool, err := r.openPool(e, clients, modeIdle, false, dirOf(name))
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
		mon.setPhase("connect")
		if _, err := pool.connectAll(ctx, r.cfg.Concurrency); err != nil {
			return err
		}
		mon.setPhase("hold")
		select {
		case <-time.After(r.cfg.Hold):
		case <-ctx.Done():
			return ctx.Err()
		}
		after := r.usage(ctx, e, pool)
		full := r.nodeStats(ctx, e, before, after)
		mon.halt()
		t, _, _, err := pool.final()
		if err != nil {
			return err
		}
		sr.Nodes = full
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
			if nd.LastGCAgoS > 0 && nd.LastGCAgoS > r.cfg.Hold.Seconds() {
				sr.note("%s ran no GC during the hold: its heap figure includes garbage", nd.Name)
			}
		}
		if r.cfg.Hold < 125*time.Second {
			sr.note("hold %v: the Go runtime forces a GC only every 2 minutes; hold 180 s for figures after GC", r.cfg.Hold)
		}
		return nil
	}()
	return r.finish(sr, err)
}

// steadyState is the median of the per-second throughputs and p99 latencies of the
// measured phase's full seconds (the first one, when publishing starts, is left
// out): on a machine shared with other work, a figure less moved by a few bad
// seconds than the whole run's.
func steadyState(tl []Sample) (throughput, p99 float64, n int) {
	var ts, ps []float64
	first := true
	for _, s := range tl {
		if s.Phase != "measure" {
			continue
		}
		if first {
			first = false
			continue
		}
		ts = append(ts, s.Delivered)
		ps = append(ps, s.P99)
	}
	if len(ts) == 0 {
		return 0, 0, 0
	}
	return median(ts), median(ps), len(ts)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
