package bench

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/wire"
	"github.com/redis/go-redis/v9"
)

// phaseRun is a delivery run's state over fakes: a pool of one fake group, no
// server, a monitor sampling them.
func phaseRun(t *testing.T, o deliveryOpts, g *fakeGroup, src source) (*runner, *deliveryState) {
	t.Helper()
	var log bytes.Buffer
	r := &runner{cfg: &Config{Clients: 4, Concurrency: 2, Duration: 50 * time.Millisecond, Drain: 200 * time.Millisecond, Topic: "t"}, log: &log}
	sr := &ScenarioResult{}
	pool := &clientPool{groups: []group{g}, total: 4}
	d := &deliveryState{o: o, sr: sr, e: &env{kind: o.kind}, pool: pool, fanout: fanoutOf(o.mode, 4), src: src}
	d.mon = r.startMonitor(sr, d.e, pool, d.fanout)
	t.Cleanup(d.mon.halt)
	return r, d
}

func TestConnectClientsPhase(t *testing.T) {
	g := &fakeGroup{conn: ConnectResult{Connected: 4, Handshake: histOf(10), Start: int64(time.Second), End: int64(3 * time.Second)}}
	r, d := phaseRun(t, deliveryOpts{kind: kindBaseline, mode: modeUnicast}, g, nil)
	if err := r.connectClients(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if v, _ := d.sr.Figure("connect_s"); v != 2 || d.mon.phase.Load() != "connect" {
		t.Errorf("connect_s %v, phase %v", v, d.mon.phase.Load())
	}
	g.conn.Failed = 1
	if err := r.connectClients(context.Background(), d); err == nil || !strings.Contains(err.Error(), "did not connect") {
		t.Errorf("a client that did not connect: %v", err)
	}
}

// Against the baseline the source is the baseline server; nothing is warmed up.
func TestPrepareSourceBaseline(t *testing.T) {
	r, d := phaseRun(t, deliveryOpts{kind: kindBaseline, mode: modeBroadcast}, &fakeGroup{}, nil)
	d.e.bases = []string{"http://127.0.0.1:1"}
	r.cfg.Payload, r.cfg.BaselineWriters = 80, 3
	if err := r.prepareSource(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	bs, ok := d.src.(*baselineSource)
	if !ok || d.rs != nil || bs.mode != modeBroadcast || bs.clients != 4 || bs.topic != "t" || bs.payload != 80 || bs.writers != 3 || bs.base != "http://127.0.0.1:1" {
		t.Errorf("source %+v", d.src)
	}
}

// Against Herald: subscribed (broadcast), warmed up, the history sampled (unicast).
func TestPrepareSourceHerald(t *testing.T) {
	g := &fakeGroup{tick: Tick{Warmed: 4}}
	r, d := phaseRun(t, deliveryOpts{kind: kindHerald, mode: modeBroadcast}, g, nil)
	e := redisEnv(t)
	d.e = e
	r.cfg.Payload, r.cfg.Publishers, r.cfg.Batch = 60, 1, 10
	if err := r.prepareSource(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if d.rs == nil || d.src != source(d.rs) || d.rs.fanout != 4 || g.subscribed.Load() != 1 || d.hist.keys != nil {
		t.Errorf("broadcast source %+v, subscribed %d", d.rs, g.subscribed.Load())
	}
	if _, ok := d.sr.Figure("warmup_s"); !ok {
		t.Error("no warm-up figure")
	}
	d.o.mode = modeUnicast
	if err := r.prepareSource(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if len(d.hist.keys) != 4 || d.hist.keys[0] != e.keys.History(wire.User("u0")) {
		t.Errorf("history sample of %v", d.hist.keys)
	}
	g.err = errors.New("gone")
	if err := r.prepareSource(context.Background(), d); err == nil {
		t.Error("a failing pool warmed up")
	}
}

// The warm-up ends when every client got a message; a node without topics ends
// it as not supported.
func TestWarmUp(t *testing.T) {
	e := redisEnv(t)
	r := &runner{cfg: &Config{}}
	rs := newRedisSource(e, modeUnicast, 3, "", &Config{Payload: 60})
	g := &fakeGroup{tick: Tick{Warmed: 3}}
	sr := &ScenarioResult{Status: statusOK}
	if err := r.warmUp(context.Background(), rs, &clientPool{groups: []group{g}}, 3, modeUnicast, sr); err != nil {
		t.Fatal(err)
	}
	if v, ok := sr.Figure("warmup_s"); !ok || v > 1 || streamLen(t, e.rdb, rs.streams...) != 3 {
		t.Errorf("warm-up %v s, %d messages", v, streamLen(t, e.rdb, rs.streams...))
	}
	g.tick = Tick{NotSupported: 1, LastError: "u0: error frame not_supported: topics are off"}
	sr = &ScenarioResult{Status: statusOK}
	if err := r.warmUp(context.Background(), rs, &clientPool{groups: []group{g}}, 3, modeBroadcast, sr); err != errNotSupported ||
		sr.Status != statusNotSupported || sr.Error != "not supported by this node: u0: error frame not_supported: topics are off" {
		t.Errorf("not supported: %v, %s %q", err, sr.Status, sr.Error)
	}
	g.tick = Tick{Warmed: 1}
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	if err := r.warmUp(ctx, rs, &clientPool{groups: []group{g}}, 3, modeUnicast, &ScenarioResult{}); err != context.DeadlineExceeded {
		t.Errorf("cancelled warm-up: %v", err)
	}
}

// The measured phase: readings before and after, the source's run, a publisher
// error kept as a note.
func TestPublishPhase(t *testing.T) {
	g := &fakeGroup{delivered: 40}
	src := &fakeSource{pub: 40, runErr: errors.New("publishing stalled")}
	r, d := phaseRun(t, deliveryOpts{kind: kindBaseline, mode: modeUnicast, rate: 100}, g, src)
	m := &deliveryMeasure{}
	if err := r.publish(context.Background(), d, m, 10); err != nil {
		t.Fatal(err)
	}
	if m.atT1 != 40 || m.t1.Before(m.t0) || m.before.at.IsZero() || m.after.at.Before(m.before.at) || m.latBefore != nil || m.kill.done {
		t.Errorf("measure %+v", m)
	}
	if d.mon.phase.Load() != "measure" || d.mon.src.Load().s != source(src) {
		t.Error("the monitor does not follow the source")
	}
	if len(d.sr.Notes) != 1 || d.sr.Notes[0] != "publisher: publishing stalled" {
		t.Errorf("notes %q", d.sr.Notes)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.publish(ctx, d, &deliveryMeasure{}, 10); err == nil || err.Error() != "publishing stalled" {
		t.Errorf("a cancelled run's publisher error: %v", err)
	}
}

// The drain waits for the expected deliveries, at most --drain.
func TestDrainPhase(t *testing.T) {
	g := &fakeGroup{delivered: 12, final: Final{Tick: Tick{Distinct: 12}, Latency: histOf(5), Reconnect: histOf(7)}}
	src := &fakeSource{exp: 12}
	r, d := phaseRun(t, deliveryOpts{kind: kindBaseline, mode: modeUnicast}, g, src)
	m := &deliveryMeasure{t1: time.Now()}
	start := time.Now()
	if err := r.drain(context.Background(), d, m); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > time.Second || m.expected != 12 || m.fin.Distinct != 12 || m.lat.TotalCount() != 1 || m.rec.TotalCount() != 1 {
		t.Errorf("drain of a complete run took %v: %+v", time.Since(start), m)
	}
	select {
	case <-d.mon.done:
	default:
		t.Error("the monitor runs on after the drain")
	}
	src.exp = 20 // 8 never come
	r, d = phaseRun(t, deliveryOpts{kind: kindBaseline, mode: modeUnicast}, g, src)
	m = &deliveryMeasure{t1: time.Now()}
	if err := r.drain(context.Background(), d, m); err != nil || m.tEnd.Sub(m.t1) < 200*time.Millisecond || m.tEnd.Sub(m.t1) > 3*time.Second {
		t.Errorf("drain of an incomplete run: %v after %v", err, m.tEnd.Sub(m.t1))
	}
	g.err = errors.New("worker gone")
	r, d = phaseRun(t, deliveryOpts{kind: kindBaseline, mode: modeUnicast}, g, &fakeSource{})
	if err := r.drain(context.Background(), d, &deliveryMeasure{t1: time.Now()}); err == nil {
		t.Error("a failing final read")
	}
}

// All the figures of a baseline run, in the order the tables show them.
func TestDeliveryFiguresOrder(t *testing.T) {
	r, d := phaseRun(t, deliveryOpts{kind: kindBaseline, mode: modeUnicast}, &fakeGroup{}, &fakeSource{pub: 20000})
	m := measured()
	m.fin.ErrFrames, m.fin.LastError = 2, "u3: error frame limit"
	d.sr.Timeline = []Sample{{Phase: "measure"}, {Phase: "measure", Delivered: 1}, {Phase: "measure", Delivered: 2}, {Phase: "measure", Delivered: 3}}
	r.deliveryFigures(context.Background(), d, m)
	var keys []string
	for _, f := range d.sr.Figures {
		keys = append(keys, f.Key)
	}
	want := "published publish_rate delivered lost duplicated delivered_per_s delivered_per_s_total delivered_per_s_median_1s p99_median_1s_ms drain_s " +
		"server_cpu_pct server_cpu_us_per_msg client_cpu_pct redis_cpu_pct redis_cpu_us_per_msg"
	if got := strings.Join(keys, " "); got != want {
		t.Errorf("figures\n%s\nwant\n%s", got, want)
	}
	if len(d.sr.Notes) != 1 || d.sr.Notes[0] != "2 error frames; last: u3: error frame limit" || d.sr.Nodes != nil || d.sr.Redis != nil {
		t.Errorf("notes %q, nodes %+v", d.sr.Notes, d.sr.Nodes)
	}
}

// The failover killer picks the node holding the ingress lease, --kill-after
// into the publishing.
func TestKillOne(t *testing.T) {
	e := redisEnv(t)
	dir := t.TempDir()
	for i := 0; i < 3; i++ {
		p, err := launchProc("node", "sleep", []string{"30"}, "", filepath.Join(dir, "n.log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Kill)
		e.procs = append(e.procs, p)
	}
	if err := e.rdb.Set(context.Background(), e.keys.Lease(0), "bench-n2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	r := &runner{cfg: &Config{KillAfter: 100 * time.Millisecond}, log: &log}
	t0 := time.Now()
	var k killInfo
	r.killOne(context.Background(), e, t0, &k)
	if !k.done || k.victim != 2 || !k.heldLease || k.at.Sub(t0) < 100*time.Millisecond || e.procs[2].alive() || !e.procs[0].alive() {
		t.Errorf("kill %+v", k)
	}
	if log.String() != "killed node 2 (kill -9), the ingress lease holder\n" {
		t.Errorf("log %q", log.String())
	}
	// No lease holder known: node 0. Cancelled before the time: nobody.
	e.rdb.Del(context.Background(), e.keys.Lease(0))
	k = killInfo{}
	r.killOne(context.Background(), e, time.Now(), &k)
	if k.victim != 0 || k.heldLease || e.procs[0].alive() {
		t.Errorf("kill without a lease %+v", k)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	k = killInfo{}
	r.killOne(ctx, e, time.Now().Add(time.Hour), &k)
	if k.done || k.victim != -1 || !e.procs[1].alive() {
		t.Errorf("cancelled kill %+v", k)
	}
}

// A Herald run's Redis figures: the statistics, the probe of a long history
// after a unicast run, and the per-recipient and per-entry figures.
func TestRedisFigures(t *testing.T) {
	e := redisEnv(t)
	ctx := context.Background()
	r := &runner{cfg: &Config{}}
	rs := newRedisSource(e, modeUnicast, 2, "", &Config{Payload: 60})
	key := e.keys.History(wire.User("u0"))
	for i := 0; i < 200; i++ { // as if routed: the probe finds a settled history
		e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []any{"data", strings.Repeat("x", 100)}})
	}
	d := &deliveryState{o: deliveryOpts{kind: kindHerald, mode: modeUnicast}, sr: &ScenarioResult{}, e: e, rs: rs,
		hist: historySample{keys: []string{key}, bytes: 5000, entries: 1}}
	r.redisFigures(ctx, d, &deliveryMeasure{before: usage{redisCPU: 1}, after: usage{redisCPU: 2}})
	s := d.sr.Redis
	if s == nil || s.HistoryProbeEntries != 200 || s.PerRecipientBytes != 5000 {
		t.Fatalf("redis stats %+v", s)
	}
	if v, _ := d.sr.Figure("redis_bytes_per_recipient"); v != 5000 {
		t.Errorf("per recipient %v", v)
	}
	if v, ok := d.sr.Figure("redis_bytes_per_entry"); !ok || v != s.PerEntryBytes {
		t.Errorf("per entry %v %v, stats %v", v, ok, s.PerEntryBytes)
	}
	// A broadcast run has no history sample: no probe, no memory figures.
	d = &deliveryState{o: deliveryOpts{kind: kindHerald, mode: modeBroadcast}, sr: &ScenarioResult{}, e: e}
	r.redisFigures(ctx, d, &deliveryMeasure{})
	if d.sr.Redis == nil || d.sr.Redis.HistoryProbeEntries != 0 || len(d.sr.Figures) != 0 {
		t.Errorf("broadcast %+v %+v", d.sr.Redis, d.sr.Figures)
	}
}

// The nodes' histograms are read from each node; one that does not answer is nil.
func TestNodeLatenciesPerNode(t *testing.T) {
	url := metricsServer(t, http.StatusOK, "herald_route_lag_seconds_bucket{le=\"0.01\"} 4\nherald_delivery_latency_seconds_bucket{le=\"+Inf\"} 9\n")
	r := &runner{cfg: &Config{}}
	got := r.nodeLatencies(context.Background(), &env{bases: []string{url, "http://127.0.0.1:1"}})
	if len(got) != 2 || got[1] != nil || got[0]["herald_route_lag_seconds"][0.01] != 4 || got[0]["herald_delivery_latency_seconds"][math.Inf(1)] != 9 {
		t.Errorf("latencies %v", got)
	}
}

// The idle hold: connect, wait --hold, read the servers and the clients.
func TestHoldIdle(t *testing.T) {
	g := &fakeGroup{conn: ConnectResult{Connected: 4}, final: Final{Tick: Tick{Connected: 4, Reconnects: 1}}}
	var log bytes.Buffer
	r := &runner{cfg: &Config{Concurrency: 2, Hold: 100 * time.Millisecond}, log: &log}
	pool := &clientPool{groups: []group{g}, total: 4}
	sr := &ScenarioResult{}
	mon := r.startMonitor(sr, &env{}, pool, 1)
	start := time.Now()
	full, tk, err := r.holdIdle(context.Background(), &env{}, pool, mon, usage{})
	if err != nil || time.Since(start) < 100*time.Millisecond || tk.Connected != 4 || tk.Reconnects != 1 || full != nil {
		t.Errorf("hold: %v after %v, tick %+v, nodes %+v", err, time.Since(start), tk, full)
	}
	if mon.phase.Load() != "hold" {
		t.Errorf("phase %v", mon.phase.Load())
	}
	select {
	case <-mon.done:
	default:
		t.Error("the monitor runs on after the hold")
	}
	g.conn.Failed = 1
	m1 := r.startMonitor(&ScenarioResult{}, &env{}, pool, 1)
	defer m1.halt() // the scenario halts it when the hold fails
	if _, _, err := r.holdIdle(context.Background(), &env{}, pool, m1, usage{}); err == nil {
		t.Error("a client that did not connect")
	}
	g.conn.Failed = 0
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := r.startMonitor(&ScenarioResult{}, &env{}, pool, 1)
	defer m.halt()
	if _, _, err := r.holdIdle(ctx, &env{}, pool, m, usage{}); err != context.Canceled {
		t.Errorf("cancelled hold: %v", err)
	}
}
