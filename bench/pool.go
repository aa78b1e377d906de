package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// clientPool is all the clients of a scenario, spread over groups: one in the bench
// process, or several worker processes when one process cannot hold them all.
type clientPool struct {
	groups    []group
	total     int
	processes int // 1: the bench process itself
	sourceIPs []string
}

// sourceIPs picks the loopback source addresses clients bind to, so that the
// ephemeral ports of one address do not run out (about 28,000 per address, fewer
// after earlier runs left TIME_WAIT sockets).
func (r *runner) sourceIPs(urls []string) []string {
	if r.cfg.SourceIPs <= 0 {
		return nil
	}
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil {
			return nil
		}
		ip := net.ParseIP(u.Hostname())
		if ip == nil || !ip.IsLoopback() || ip.To4() == nil {
			return nil // binding 127.0.0.x only makes sense towards loopback
		}
	}
	var ips []string
	for i := 0; i < r.cfg.SourceIPs && i < 250; i++ {
		ips = append(ips, "127.0.0."+strconv.Itoa(2+i))
	}
	return ips
}

// openPool prepares n clients of mode against e (it does not connect them yet).
func (r *runner) openPool(e *env, n int, mode string, failover bool, dir string) (*clientPool, error) {
	procs := r.cfg.Workers
	if procs <= 0 {
		procs = 0
		if n > r.cfg.ConnsPerProcess {
			procs = (n + r.cfg.ConnsPerProcess - 1) / r.cfg.ConnsPerProcess
		}
	}
	p := &clientPool{total: n, sourceIPs: r.sourceIPs(e.urls)}
	base := GroupSpec{
		URLs:          e.urls,
		Total:         n,
		UserPrefix:    "u",
		Mode:          mode,
		Secret:        e.secret,
		SourceIPs:     p.sourceIPs,
		PingNs:        int64(r.cfg.ClientPing),
		DialTimeoutNs: int64(30 * time.Second),
		Failover:      failover,
	}
	if procs == 0 {
		spec := base
		spec.First, spec.Count = 0, n
		g, err := newLocalGroup(spec)
		if err != nil {
			return nil, err
		}
		p.groups = []group{g}
		p.processes = 1
		return p, nil
	}
	if procs > n {
		procs = n
	}
	if err := r.startWorkers(p, base, procs, dir); err != nil {
		p.close()
		return nil, err
	}
	p.processes = procs
	return p, nil
}

// startWorkers starts procs worker processes for the pool, the clients spread
// evenly over them (the first n % procs take one more).
func (r *runner) startWorkers(p *clientPool, base GroupSpec, procs int, dir string) error {
	n := base.Total
	first := 0
	for i := 0; i < procs; i++ {
		spec := base
		spec.First = first
		spec.Count = n/procs + btoi(i < n%procs)
		first += spec.Count
		prof := ""
		if r.cfg.CPUProfile != "" {
			prof = r.cfg.CPUProfile + ".worker" + strconv.Itoa(i)
		}
		w, err := startWorker(r.heraldBin, "client worker "+strconv.Itoa(i), spec,
			filepath.Join(dir, "worker-"+strconv.Itoa(i)+".log"), prof)
		if err != nil {
			return err
		}
		p.groups = append(p.groups, w)
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// each runs f on every group concurrently and joins the errors.
func (p *clientPool) each(f func(i int, g group) error) error {
	errs := make([]error, len(p.groups))
	var wg sync.WaitGroup
	for i, g := range p.groups {
		wg.Add(1)
		go func(i int, g group) {
			defer wg.Done()
			errs[i] = f(i, g)
		}(i, g)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// connectSummary is the pool's ConnectResult.
type connectSummary struct {
	Connected, Failed int
	FirstError        string
	Handshake         *hdrhistogram.Histogram
	Start, End        time.Time
}

// connectAll is connect for the scenarios that need every client: one that does
// not connect fails the scenario.
func (p *clientPool) connectAll(ctx context.Context, concurrency int) (connectSummary, error) {
	cs, err := p.connect(ctx, concurrency)
	if err == nil && cs.Failed > 0 {
		err = fmt.Errorf("%d of %d clients did not connect; first error: %s", cs.Failed, cs.Connected+cs.Failed, cs.FirstError)
	}
	return cs, err
}

// connect dials every client, concurrency in flight over all groups.
func (p *clientPool) connect(ctx context.Context, concurrency int) (connectSummary, error) {
	res := make([]ConnectResult, len(p.groups))
	per := max(1, concurrency/len(p.groups))
	err := p.each(func(i int, g group) error {
		var err error
		res[i], err = g.Connect(ctx, per)
		return err
	})
	s := connectSummary{Handshake: newHist()}
	for i, r := range res {
		s.Connected += r.Connected
		s.Failed += r.Failed
		if s.FirstError == "" {
			s.FirstError = r.FirstError
		}
		s.Handshake.Merge(decodeHist(r.Handshake))
		st, en := time.Unix(0, r.Start), time.Unix(0, r.End)
		if i == 0 || st.Before(s.Start) {
			s.Start = st
		}
		if en.After(s.End) {
			s.End = en
		}
	}
	return s, err
}

func (p *clientPool) subscribe(topic string) error {
	return p.each(func(_ int, g group) error { return g.Subscribe(topic) })
}

// tick sums the groups' ticks and merges their interval histograms.
func (p *clientPool) tick() (Tick, *hdrhistogram.Histogram, error) {
	ticks := make([]Tick, len(p.groups))
	err := p.each(func(i int, g group) error {
		var err error
		ticks[i], err = g.Tick()
		return err
	})
	h := newHist()
	for _, t := range ticks {
		h.Merge(decodeHist(t.Interval))
	}
	return sumTicks(ticks), h, err
}

// final sums the groups' end states and merges their histograms.
func (p *clientPool) final() (Tick, *hdrhistogram.Histogram, *hdrhistogram.Histogram, error) {
	fs := make([]Final, len(p.groups))
	err := p.each(func(i int, g group) error {
		var err error
		fs[i], err = g.Final()
		return err
	})
	lat, rec := newHist(), newHist()
	ticks := make([]Tick, len(fs))
	for i, f := range fs {
		lat.Merge(decodeHist(f.Latency))
		rec.Merge(decodeHist(f.Reconnect))
		ticks[i] = f.Tick
	}
	return sumTicks(ticks), lat, rec, err
}

func (p *clientPool) delivered() int64 {
	var n int64
	for _, g := range p.groups {
		n += g.Delivered()
	}
	return n
}

func (p *clientPool) close() {
	_ = p.each(func(_ int, g group) error { return g.Close() })
}

func sumTicks(ts []Tick) Tick {
	var s Tick
	for _, t := range ts {
		s.At = max(s.At, t.At)
		s.Connected += t.Connected
		s.Warmed += t.Warmed
		s.Distinct += t.Distinct
		s.Dup += t.Dup
		s.Misrouted += t.Misrouted
		s.Bad += t.Bad
		s.Reconnects += t.Reconnects
		s.LastUp = max(s.LastUp, t.LastUp)
		s.LastDown = max(s.LastDown, t.LastDown)
		s.Down += t.Down
		s.ErrFrames += t.ErrFrames
		s.NotSupported += t.NotSupported
		s.LastDelivery = max(s.LastDelivery, t.LastDelivery)
		if t.LastError != "" {
			s.LastError = t.LastError
		}
	}
	return s
}

// describe says how the clients were spread, for the results' notes.
func (p *clientPool) describe() string {
	where := "in the bench process"
	if p.processes > 1 || (len(p.groups) > 0 && !isLocal(p.groups[0])) {
		where = fmt.Sprintf("over %d worker processes", p.processes)
	}
	src := "the default source address"
	if len(p.sourceIPs) > 0 {
		src = fmt.Sprintf("%d source addresses %s..%s", len(p.sourceIPs), p.sourceIPs[0], p.sourceIPs[len(p.sourceIPs)-1])
	}
	return fmt.Sprintf("%d clients %s, from %s", p.total, where, src)
}

// pids are the processes holding the clients: the bench itself and its workers.
func (p *clientPool) pids() []int {
	out := []int{os.Getpid()}
	for _, g := range p.groups {
		if w, ok := g.(*remoteGroup); ok {
			out = append(out, w.cmd.Process.Pid)
		}
	}
	return out
}

func isLocal(g group) bool {
	_, ok := g.(*localGroup)
	return ok
}
