package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The delivery scenarios (baseline, unicast, cluster, broadcast, failover): the
// clients connect, a source publishes measured messages for --duration, and the
// clients count what arrives. A run goes through its phases in order: connect,
// warm-up (Herald only), measure, drain; the monitor records each second of them.

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

// deliveryState is one delivery scenario while it runs.
type deliveryState struct {
	o      deliveryOpts
	sr     *ScenarioResult
	e      *env
	pool   *clientPool
	mon    *monitor
	fanout int64 // deliveries per message: 1, or every client for broadcast
	src    source
	rs     *redisSource  // Herald only
	hist   historySample // Herald unicast only: history streams after the warm-up
}

// deliveryMeasure is what the measured phase and the drain saw.
type deliveryMeasure struct {
	t0, t1, tEnd        time.Time // publishing started, stopped; drain ended
	atT1                int64     // distinct deliveries when publishing stopped
	expected            int64     // deliveries the clients should receive
	before, after       usage     // around the publishing
	latBefore, latAfter []map[string]bucketCounts
	kill                killInfo
	fin                 Tick
	lat, rec            *hdrhistogram.Histogram
}

// deliveryRun runs a delivery scenario's phases: servers and clients up, connect,
// warm-up, measure (killing a node in failover), drain, then the figures.
func (r *runner) deliveryRun(ctx context.Context, o deliveryOpts, sr *ScenarioResult, dir string, window int64) error {
	if err := r.sizeDelivery(&o, sr); err != nil {
		return err
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
	pool, err := r.openPool(e, r.cfg.Clients, o.mode, o.failover, dir)
	if err != nil {
		return err
	}
	defer pool.close()
	sr.Params.Workers, sr.Params.SourceIPs = pool.processes, len(pool.sourceIPs)
	sr.note("%s", pool.describe())
	d := &deliveryState{o: o, sr: sr, e: e, pool: pool, fanout: fanoutOf(o.mode, r.cfg.Clients)}
	d.mon = r.startMonitor(sr, e, pool, d.fanout)
	defer d.mon.halt()
	if err := r.connectClients(ctx, d); err != nil {
		return err
	}
	if err := r.prepareSource(ctx, d); err != nil {
		return err
	}
	m := &deliveryMeasure{}
	if err := r.publish(ctx, d, m, window); err != nil {
		return err
	}
	if err := r.drain(ctx, d, m); err != nil {
		return err
	}
	r.deliveryFigures(ctx, d, m)
	return nil
}

// sizeDelivery checks the client count against what the servers can hold, and
// starts more nodes when one cannot hold them all.
func (r *runner) sizeDelivery(o *deliveryOpts, sr *ScenarioResult) error {
	clients := r.cfg.Clients
	if o.kind == kindBaseline && clients > maxConnsPerNode {
		return fmt.Errorf("the baseline server is one process: at most %d clients under the open-file limit", maxConnsPerNode)
	}
	if o.kind == kindHerald && clients > o.nodes*maxConnsPerNode && len(r.cfg.Target) == 0 {
		o.nodes = (clients + maxConnsPerNode - 1) / maxConnsPerNode
		sr.Params.Nodes = o.nodes
		sr.note("%d nodes: one node holds at most %d connections under the 20,000 open-file limit", o.nodes, maxConnsPerNode)
	}
	return nil
}

// fanoutOf is the deliveries one message makes: one, or every client of a broadcast.
func fanoutOf(mode string, clients int) int64 {
	if mode == modeBroadcast {
		return int64(clients)
	}
	return 1
}

// connectClients connects every client; one that does not connect fails the run.
func (r *runner) connectClients(ctx context.Context, d *deliveryState) error {
	d.mon.setPhase("connect")
	cs, err := d.pool.connectAll(ctx, r.cfg.Concurrency)
	if err != nil {
		return err
	}
	d.sr.add("connect_s", "time to connect all clients", cs.End.Sub(cs.Start).Seconds(), "s")
	return nil
}

// prepareSource makes the run's publisher. Against Herald it also subscribes the
// clients (broadcast), warms every session up and samples the history streams
// (unicast), so that the measured phase starts from sessions in their steady state.
func (r *runner) prepareSource(ctx context.Context, d *deliveryState) error {
	o, clients := d.o, r.cfg.Clients
	if o.kind == kindBaseline {
		d.src = newBaselineSource(d.e, o.mode, clients, r.cfg.Topic, r.cfg)
		return nil
	}
	d.rs = newRedisSource(d.e, o.mode, clients, r.cfg.Topic, r.cfg)
	d.rs.fanout = d.fanout
	d.src = d.rs
	d.mon.setPhase("warmup")
	if o.mode == modeBroadcast {
		if err := d.pool.subscribe(r.cfg.Topic); err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
	}
	if err := r.warmUp(ctx, d.rs, d.pool, clients, o.mode, d.sr); err != nil {
		return err
	}
	if o.mode == modeUnicast {
		d.hist = r.sampleHistory(ctx, d.e, clients)
	}
	return nil
}

// publish is the measured phase: readings of the servers before, the source
// publishing for --duration (a node killed meanwhile in failover), readings after.
func (r *runner) publish(ctx context.Context, d *deliveryState, m *deliveryMeasure, window int64) error {
	o := d.o
	m.before = r.usage(ctx, d.e, d.pool)
	if o.kind == kindHerald {
		m.latBefore = r.nodeLatencies(ctx, d.e)
	}
	d.mon.setSource(d.src)
	d.mon.setPhase("measure")
	m.t0 = time.Now()
	killDone := make(chan struct{})
	if o.failover {
		go func() {
			defer close(killDone)
			r.killOne(ctx, d.e, m.t0, &m.kill)
		}()
	} else {
		close(killDone)
	}
	// A failover run waits for the lease to move: a minute without deliveries is
	// not yet a stall there.
	stall := 10 * time.Second
	if o.failover {
		stall = 60 * time.Second
	}
	pubErr := d.src.run(ctx, pubPlan{rate: o.rate, dur: r.cfg.Duration, window: window, fanout: d.fanout, delivery: d.pool.delivered, stall: stall})
	m.t1 = time.Now()
	<-killDone
	m.atT1 = d.pool.delivered()
	m.after = r.usage(ctx, d.e, d.pool)
	if pubErr != nil {
		if ctx.Err() != nil {
			return pubErr
		}
		d.sr.note("publisher: %v", pubErr)
	}
	return nil
}

// drain waits, at most --drain, for the deliveries still on their way, then
// reads the nodes' histograms and the clients' final counts.
func (r *runner) drain(ctx context.Context, d *deliveryState, m *deliveryMeasure) error {
	d.mon.setPhase("drain")
	m.expected = d.src.expected()
	deadline := m.t1.Add(r.cfg.Drain)
	for d.pool.delivered() < m.expected && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	m.tEnd = time.Now()
	if d.o.kind == kindHerald {
		m.latAfter = r.nodeLatencies(ctx, d.e)
	}
	d.mon.halt()
	var err error
	m.fin, m.lat, m.rec, err = d.pool.final()
	return err
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
