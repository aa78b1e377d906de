package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-push/herald/client"
	"github.com/herald-push/herald/gateway/auth"
)

// The clients of a group in this process: one client.Client per user, whose
// callbacks account for every push received (distinct, duplicated, misrouted,
// unreadable), its latency, and the connection's ups and downs.

// localGroup is a group of clients in this process.
type localGroup struct {
	spec    GroupSpec
	members []*member
	lat     *recorder
	recon   *recorder

	connected, warmed, distinct, dup, misrouted, bad atomic.Int64
	reconnects, down, errFrames, notSupported        atomic.Int64
	lastUp, lastDown, lastDelivery                   atomic.Int64
	lastErr                                          atomic.Value // string
}

// member is one client of a group. Its fields are used by the client's callback
// goroutine only.
type member struct {
	g      *localGroup
	i      int    // index in the group
	global int    // index among all clients (user u<global>)
	user   string // user id
	token  string
	c      *client.Client
	seen   seqSet
	up     bool
	everUp bool
	warm   bool
	downAt int64
}

func newLocalGroup(spec GroupSpec) (*localGroup, error) {
	if spec.Count <= 0 || len(spec.URLs) == 0 {
		return nil, errors.New("bench: empty client group")
	}
	g := &localGroup{spec: spec, lat: newRecorder(), recon: newRecorder()}
	g.lastErr.Store("")
	now := time.Now()
	for i := 0; i < spec.Count; i++ {
		m := &member{g: g, i: i, global: spec.First + i, user: userName(spec.UserPrefix, spec.First+i)}
		tok, err := auth.Mint([]byte(spec.Secret), auth.Claims{User: m.user, Expiry: now.Add(48 * time.Hour)}, now)
		if err != nil {
			return nil, err
		}
		m.token = tok
		g.members = append(g.members, m)
	}
	return g, nil
}

func (g *localGroup) config(m *member) client.Config {
	urls := g.spec.URLs
	n := len(urls)
	start := m.global % n
	var us []string
	if g.spec.Failover {
		for k := 0; k < n; k++ {
			us = append(us, urls[(start+k)%n])
		}
	} else {
		us = []string{urls[start]}
	}
	cfg := client.Config{
		URLs:         us,
		Token:        func(context.Context) (string, error) { return m.token, nil },
		OnPush:       m.onPush,
		OnState:      m.onState,
		OnError:      m.onError,
		DedupeWindow: -1, // the bench counts duplicates itself
		PingInterval: time.Duration(g.spec.PingNs),
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	if len(g.spec.SourceIPs) > 0 {
		ip := net.ParseIP(g.spec.SourceIPs[m.global%len(g.spec.SourceIPs)])
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	cfg.Dialer = d.DialContext
	return cfg
}

// Connect dials every client, concurrency at a time, each until its welcome.
func (g *localGroup) Connect(ctx context.Context, concurrency int) (ConnectResult, error) {
	if concurrency < 1 {
		concurrency = 1
	}
	hs := newRecorder()
	res := ConnectResult{Start: time.Now().UnixNano()}
	var mu sync.Mutex
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	timeout := time.Duration(g.spec.DialTimeoutNs)
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	for _, m := range g.members {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(m *member) {
			defer func() { <-sem; wg.Done() }()
			dctx, cancel := context.WithTimeout(ctx, timeout)
			t0 := time.Now()
			c, err := client.Dial(dctx, g.config(m))
			cancel()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Failed++
				if res.FirstError == "" {
					res.FirstError = err.Error()
				}
				return
			}
			hs.record(m.i, time.Since(t0).Microseconds())
			m.c = c
			res.Connected++
		}(m)
	}
	wg.Wait()
	res.End = time.Now().UnixNano()
	res.Handshake = encodeHist(hs.total())
	return res, ctx.Err()
}

// Subscribe subscribes every connected client to topic.
func (g *localGroup) Subscribe(topic string) error {
	var first error
	for _, m := range g.members {
		if m.c == nil {
			continue
		}
		if err := m.c.Subscribe(topic, ""); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (g *localGroup) Delivered() int64 { return g.distinct.Load() }

func (g *localGroup) Tick() (Tick, error) {
	t := g.counters()
	t.Interval = encodeHist(g.lat.interval())
	return t, nil
}

func (g *localGroup) counters() Tick {
	return Tick{
		At:           time.Now().UnixNano(),
		Connected:    g.connected.Load(),
		Warmed:       g.warmed.Load(),
		Distinct:     g.distinct.Load(),
		Dup:          g.dup.Load(),
		Misrouted:    g.misrouted.Load(),
		Bad:          g.bad.Load(),
		Reconnects:   g.reconnects.Load(),
		LastUp:       g.lastUp.Load(),
		LastDown:     g.lastDown.Load(),
		Down:         g.down.Load(),
		ErrFrames:    g.errFrames.Load(),
		NotSupported: g.notSupported.Load(),
		LastError:    g.lastErr.Load().(string),
		LastDelivery: g.lastDelivery.Load(),
	}
}

func (g *localGroup) Final() (Final, error) {
	return Final{Tick: g.counters(), Latency: encodeHist(g.lat.total()), Reconnect: encodeHist(g.recon.total())}, nil
}

// Close closes every client, 64 at a time.
func (g *localGroup) Close() error {
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for _, m := range g.members {
		if m.c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(c *client.Client) {
			defer func() { <-sem; wg.Done() }()
			_ = c.Close()
		}(m.c)
	}
	wg.Wait()
	return nil
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

func (m *member) onPush(p client.Push) {
	now := time.Now().UnixNano()
	g := m.g
	pl, ok := parsePayload(p.Data)
	if !ok {
		g.bad.Add(1)
		return
	}
	if pl.Warm {
		if !m.warm {
			m.warm = true
			g.warmed.Add(1)
		}
		return
	}
	idx := pl.N
	if g.spec.Mode == modeUnicast {
		if pl.N%int64(g.spec.Total) != int64(m.global) {
			g.misrouted.Add(1)
			return
		}
		idx = pl.N / int64(g.spec.Total)
	}
	if !m.seen.add(idx) {
		g.dup.Add(1)
		return
	}
	g.lat.record(m.i, (now-pl.T)/1000)
	g.distinct.Add(1)
	g.lastDelivery.Store(now)
}

func (m *member) onState(s client.State, err error) {
	g := m.g
	now := time.Now().UnixNano()
	switch s {
	case client.Connected:
		if !m.up {
			m.up = true
			g.connected.Add(1)
		}
		if m.everUp {
			g.reconnects.Add(1)
			g.down.Add(-1)
			storeMax(&g.lastUp, now)
			if m.downAt > 0 {
				g.recon.record(m.i, (now-m.downAt)/1000)
				m.downAt = 0
			}
		}
		m.everUp = true
	case client.Disconnected, client.Closed:
		if m.up {
			m.up = false
			g.connected.Add(-1)
			if s == client.Disconnected {
				g.down.Add(1)
				m.downAt = now
				storeMax(&g.lastDown, now)
			}
		}
		if err != nil && s == client.Disconnected {
			g.lastErr.Store(fmt.Sprintf("%s: %v", m.user, err))
		}
	}
}

func (m *member) onError(e client.ServerError) {
	m.g.errFrames.Add(1)
	if e.Code == "not_supported" {
		m.g.notSupported.Add(1)
	}
	m.g.lastErr.Store(fmt.Sprintf("%s: error frame %s: %s", m.user, e.Code, e.Reason))
}
