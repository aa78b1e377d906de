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

// Modes of a client group: how a received push is accounted for.
const (
	modeUnicast   = "unicast"   // message n goes to user n % Total
	modeBroadcast = "broadcast" // message n goes to every subscriber of the topic
	modeIdle      = "idle"      // nothing is expected
)

// GroupSpec says which clients a group opens. A group runs in the bench process or
// in a worker process (`herald bench internal-worker`), which gets it as JSON.
type GroupSpec struct {
	URLs       []string `json:"urls"`  // the nodes' WebSocket URLs
	First      int      `json:"first"` // index of the group's first client among all clients
	Count      int      `json:"count"`
	Total      int      `json:"total"` // clients over all groups
	UserPrefix string   `json:"user_prefix"`
	Mode       string   `json:"mode"`
	Secret     string   `json:"secret"`
	SourceIPs  []string `json:"source_ips"` // local addresses, round robin by client index
	// PingNs is the client's ping interval (0: the client's default, 15 s).
	PingNs int64 `json:"ping_ns"`
	// DialTimeoutNs bounds one client's Dial (every attempt until the welcome).
	DialTimeoutNs int64 `json:"dial_timeout_ns"`
	// Failover: client i tries URLs[(First+i) % len] first, then the others.
	Failover bool `json:"failover"`
}

// Tick is a group's counters (cumulative) and the latencies recorded since the
// previous tick.
type Tick struct {
	At           int64  `json:"at"`
	Connected    int64  `json:"connected"`
	Warmed       int64  `json:"warmed"`   // clients that received a warm-up message
	Distinct     int64  `json:"distinct"` // measured deliveries, each (client, message) once
	Dup          int64  `json:"dup"`
	Misrouted    int64  `json:"misrouted"` // pushes for another user
	Bad          int64  `json:"bad"`       // payloads that did not parse
	Reconnects   int64  `json:"reconnects"`
	LastUp       int64  `json:"last_up"`   // unix ns of the newest reconnection's welcome
	LastDown     int64  `json:"last_down"` // unix ns of the newest disconnect
	Down         int64  `json:"down"`      // clients between connections now
	ErrFrames    int64  `json:"err_frames"`
	NotSupported int64  `json:"not_supported"`
	LastError    string `json:"last_error,omitempty"`
	LastDelivery int64  `json:"last_delivery"` // unix ns
	Interval     string `json:"interval,omitempty"`
}

// Final is a group's end state: a tick plus the whole run's histograms.
type Final struct {
	Tick
	Latency   string `json:"latency"`
	Reconnect string `json:"reconnect"`
}

// ConnectResult is how opening a group's clients went.
type ConnectResult struct {
	Connected  int    `json:"connected"`
	Failed     int    `json:"failed"`
	FirstError string `json:"first_error,omitempty"`
	Handshake  string `json:"handshake"` // histogram, µs: Dial to welcome
	Start      int64  `json:"start"`
	End        int64  `json:"end"`
}

// group is a set of clients, in this process or in a worker process.
type group interface {
	Connect(ctx context.Context, concurrency int) (ConnectResult, error)
	Subscribe(topic string) error
	Tick() (Tick, error)
	Final() (Final, error)
	Delivered() int64 // measured deliveries so far; cheap, for the publisher's window
	Close() error
}

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
