package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// monitor samples a scenario every second: the clients' counters and latencies,
// the publisher, the server processes and Redis. It prints one line per sample and
// keeps the timeline for results.json and the charts.
type monitor struct {
	r      *runner
	sr     *ScenarioResult
	e      *env
	pool   *clientPool
	src    atomic.Pointer[sourceBox]
	fanout int64
	start  time.Time
	phase  atomic.Value // string
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	last   Tick
}

type sourceBox struct{ s source }

func (r *runner) startMonitor(sr *ScenarioResult, e *env, pool *clientPool, fanout int64) *monitor {
	m := &monitor{r: r, sr: sr, e: e, pool: pool, fanout: fanout, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	m.phase.Store("start")
	go m.loop()
	return m
}

func (m *monitor) setPhase(p string)  { m.phase.Store(p) }
func (m *monitor) setSource(s source) { m.src.Store(&sourceBox{s}) }

// halt stops sampling; idempotent.
func (m *monitor) halt() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
}

// loop takes a sample every second until halt, and a last one then.
func (m *monitor) loop() {
	defer close(m.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	sp := &sampler{prev: time.Now(), prevCPU: map[int]float64{}, prevRedis: -1, prevClient: -1, prevHost: readHost()}
	for {
		var now time.Time
		select {
		case <-m.stop:
			// A last, partial sample, unless the previous one was just taken.
			if now = time.Now(); now.Sub(sp.prev) < 200*time.Millisecond {
				return
			}
		case now = <-t.C:
		}
		s, tick := m.sample(sp, now)
		m.sr.Timeline = append(m.sr.Timeline, s)
		m.print(s, tick)
		select {
		case <-m.stop:
			return
		default:
		}
	}
}

// sampler holds the previous readings, the per-second rates are the differences.
type sampler struct {
	prev             time.Time
	prevPub, prevDel int64
	prevCPU          map[int]float64 // per node process
	prevRedis        float64         // -1: none yet
	prevClient       float64         // -1: none yet
	prevHost         hostSample
}

// sample is the second that ends at now, and the clients' counters.
func (m *monitor) sample(sp *sampler, now time.Time) (Sample, Tick) {
	dt := now.Sub(sp.prev).Seconds()
	sp.prev = now
	s := Sample{T: now.Sub(m.start).Seconds(), Phase: m.phase.Load().(string)}
	tick := m.sampleClients(sp, &s, dt)
	if b := m.src.Load(); b != nil {
		p := b.s.published()
		s.Published = float64(p-sp.prevPub) / dt
		sp.prevPub = p
	}
	m.sampleNodes(sp, &s, dt)
	m.sampleCPU(sp, &s, dt)
	return s, tick
}

// sampleClients reads the clients' counters and the interval's latencies.
func (m *monitor) sampleClients(sp *sampler, s *Sample, dt float64) Tick {
	tick, iv, err := m.pool.tick()
	if err != nil {
		return tick
	}
	s.Connected = tick.Connected
	s.Delivered = float64(tick.Distinct-sp.prevDel) / dt
	sp.prevDel = tick.Distinct
	if iv.TotalCount() > 0 {
		s.P50 = float64(iv.ValueAtQuantile(50)) / 1000
		s.P99 = float64(iv.ValueAtQuantile(99)) / 1000
		s.Max = float64(iv.Max()) / 1000
	}
	m.mu.Lock()
	m.last = tick
	m.mu.Unlock()
	return tick
}

// sampleNodes reads the memory and CPU of the server processes the bench started.
func (m *monitor) sampleNodes(sp *sampler, s *Sample, dt float64) {
	for i, p := range m.e.procs {
		if p == nil || !p.alive() {
			continue
		}
		if rss, ok := procRSS(p.PID()); ok {
			s.NodeRSSMB += rss / (1 << 20)
		}
		if c, ok := procCPU(p.PID()); ok {
			if old, seen := sp.prevCPU[i]; seen {
				s.NodeCPUPct += (c - old) / dt * 100
			}
			sp.prevCPU[i] = c
		}
	}
}

// sampleCPU reads the CPU of the clients' processes, of the host and of Redis.
func (m *monitor) sampleCPU(sp *sampler, s *Sample, dt float64) {
	var cl float64
	for _, pid := range m.pool.pids() {
		if c, ok := procCPU(pid); ok {
			cl += c
		}
	}
	if sp.prevClient >= 0 {
		s.ClientCPUPct = (cl - sp.prevClient) / dt * 100
	}
	sp.prevClient = cl
	host := readHost()
	if pct, ok := hostTakenPct(sp.prevHost, host); ok {
		s.HostTakenPct = pct
	}
	sp.prevHost = host
	if m.e.rdb != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		if c, ok := redisCPU(ctx, m.e.rdb); ok {
			if sp.prevRedis >= 0 {
				s.RedisCPUPct = (c - sp.prevRedis) / dt * 100
			}
			sp.prevRedis = c
		}
		cancel()
	}
}

func (m *monitor) print(s Sample, t Tick) {
	var b strings.Builder
	fmt.Fprintf(&b, "[%4.0fs] %-8s conns %-6d", s.T, s.Phase, s.Connected)
	if s.Published > 0 || s.Delivered > 0 {
		fmt.Fprintf(&b, " pub %7s/s  recv %7s/s", thousands(int64(s.Published)), thousands(int64(s.Delivered)))
	}
	if s.P99 > 0 {
		fmt.Fprintf(&b, "  p50 %s p99 %s max %s ms", fmtNum(s.P50), fmtNum(s.P99), fmtNum(s.Max))
	}
	if t.Down > 0 {
		fmt.Fprintf(&b, "  down %d", t.Down)
	}
	if t.Dup > 0 {
		fmt.Fprintf(&b, "  dup %d", t.Dup)
	}
	if s.NodeRSSMB > 0 {
		fmt.Fprintf(&b, "  server %.0f%% cpu %.0f MB", s.NodeCPUPct, s.NodeRSSMB)
	}
	if s.RedisCPUPct > 0 {
		fmt.Fprintf(&b, "  redis %.0f%%", s.RedisCPUPct)
	}
	if s.ClientCPUPct > 0 {
		fmt.Fprintf(&b, "  clients %.0f%%", s.ClientCPUPct)
	}
	if s.HostTakenPct >= 5 {
		fmt.Fprintf(&b, "  host took %.0f%%", s.HostTakenPct)
	}
	m.r.logf("%s", b.String())
}
