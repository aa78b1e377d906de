package bench

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeGroup is a group whose answers a test sets.
type fakeGroup struct {
	conn      ConnectResult
	tick      Tick
	final     Final
	delivered int64
	err       error
	subscribed,
	closed atomic.Int32
}

func (f *fakeGroup) Connect(context.Context, int) (ConnectResult, error) { return f.conn, f.err }
func (f *fakeGroup) Subscribe(string) error                              { f.subscribed.Add(1); return f.err }
func (f *fakeGroup) Tick() (Tick, error)                                 { return f.tick, f.err }
func (f *fakeGroup) Final() (Final, error)                               { return f.final, f.err }
func (f *fakeGroup) Delivered() int64                                    { return f.delivered }
func (f *fakeGroup) Close() error                                        { f.closed.Add(1); return f.err }

func histOf(values ...int64) string {
	h := newHist()
	for _, v := range values {
		_ = h.RecordValue(v)
	}
	return encodeHist(h)
}

// The pool's figures are the sum of its groups', histograms merged.
func TestPoolSumsItsGroups(t *testing.T) {
	a := &fakeGroup{delivered: 5,
		conn:  ConnectResult{Connected: 9, Failed: 1, FirstError: "", Handshake: histOf(100, 200), Start: 2000, End: 5000},
		tick:  Tick{At: 10, Connected: 9, Distinct: 50, LastUp: 7, LastError: "a", Interval: histOf(1000)},
		final: Final{Tick: Tick{Distinct: 60, Dup: 1}, Latency: histOf(1000, 2000), Reconnect: histOf(500)}}
	b := &fakeGroup{delivered: 7,
		conn:  ConnectResult{Connected: 8, Failed: 2, FirstError: "refused", Handshake: histOf(300), Start: 1000, End: 4000},
		tick:  Tick{At: 20, Connected: 8, Distinct: 40, LastUp: 3, Interval: histOf(3000, 4000)},
		final: Final{Tick: Tick{Distinct: 45, Misrouted: 2}, Latency: histOf(3000)}}
	p := &clientPool{groups: []group{a, b}, total: 20}
	cs, err := p.connect(context.Background(), 10)
	if err != nil || cs.Connected != 17 || cs.Failed != 3 || cs.FirstError != "refused" || cs.Handshake.TotalCount() != 3 ||
		cs.Start != time.Unix(0, 1000) || cs.End != time.Unix(0, 5000) {
		t.Errorf("connect %+v %v", cs, err)
	}
	if _, err := p.connectAll(context.Background(), 10); err == nil || err.Error() != "3 of 20 clients did not connect; first error: refused" {
		t.Errorf("connectAll: %v", err)
	}
	tk, iv, err := p.tick()
	if err != nil || tk.At != 20 || tk.Connected != 17 || tk.Distinct != 90 || tk.LastUp != 7 || tk.LastError != "a" || iv.TotalCount() != 3 {
		t.Errorf("tick %+v, interval %d, %v", tk, iv.TotalCount(), err)
	}
	fin, lat, rec, err := p.final()
	if err != nil || fin.Distinct != 105 || fin.Dup != 1 || fin.Misrouted != 2 || lat.TotalCount() != 3 || rec.TotalCount() != 1 {
		t.Errorf("final %+v, %d latencies, %d reconnects, %v", fin, lat.TotalCount(), rec.TotalCount(), err)
	}
	if p.delivered() != 12 {
		t.Errorf("delivered %d", p.delivered())
	}
	if err := p.subscribe("news"); err != nil || a.subscribed.Load() != 1 || b.subscribed.Load() != 1 {
		t.Errorf("subscribe: %v", err)
	}
	p.close()
	if a.closed.Load() != 1 || b.closed.Load() != 1 {
		t.Error("not every group closed")
	}
}

// One group's error is the pool's, the others' figures still summed.
func TestPoolJoinsErrors(t *testing.T) {
	bad := &fakeGroup{err: errors.New("worker 1 exited")}
	good := &fakeGroup{tick: Tick{Distinct: 3}}
	p := &clientPool{groups: []group{good, bad}}
	tk, _, err := p.tick()
	if err == nil || !strings.Contains(err.Error(), "worker 1 exited") || tk.Distinct != 3 {
		t.Errorf("tick %+v %v", tk, err)
	}
}

func TestSumTicks(t *testing.T) {
	got := sumTicks([]Tick{
		{At: 5, Connected: 1, Warmed: 1, Distinct: 1, Dup: 1, Misrouted: 1, Bad: 1, Reconnects: 1, LastUp: 9, LastDown: 2, Down: 1, ErrFrames: 1, NotSupported: 1, LastError: "x", LastDelivery: 3},
		{At: 7, Connected: 2, Warmed: 2, Distinct: 2, Dup: 2, Misrouted: 2, Bad: 2, Reconnects: 2, LastUp: 4, LastDown: 8, Down: 2, ErrFrames: 2, NotSupported: 2, LastDelivery: 6},
	})
	want := Tick{At: 7, Connected: 3, Warmed: 3, Distinct: 3, Dup: 3, Misrouted: 3, Bad: 3, Reconnects: 3, LastUp: 9, LastDown: 8, Down: 3, ErrFrames: 3, NotSupported: 3, LastError: "x", LastDelivery: 6}
	if got != want {
		t.Errorf("sumTicks = %+v\nwant %+v", got, want)
	}
}

func TestPoolDescribeAndPIDs(t *testing.T) {
	p := &clientPool{groups: []group{&localGroup{}}, total: 10, processes: 1}
	if got := p.describe(); got != "10 clients in the bench process, from the default source address" {
		t.Errorf("describe %q", got)
	}
	p = &clientPool{groups: []group{&remoteGroup{}, &remoteGroup{}}, total: 30000, processes: 2, sourceIPs: []string{"127.0.0.2", "127.0.0.3"}}
	if got := p.describe(); got != "30000 clients over 2 worker processes, from 2 source addresses 127.0.0.2..127.0.0.3" {
		t.Errorf("describe %q", got)
	}
	if pids := (&clientPool{groups: []group{&localGroup{}}}).pids(); !reflect.DeepEqual(pids, []int{os.Getpid()}) {
		t.Errorf("pids %v", pids)
	}
	if !isLocal(&localGroup{}) || isLocal(&remoteGroup{}) || btoi(true) != 1 || btoi(false) != 0 {
		t.Error("isLocal or btoi")
	}
}

// Clients bind 127.0.0.2.. only towards loopback IPv4 nodes.
func TestSourceIPs(t *testing.T) {
	r := &runner{cfg: &Config{SourceIPs: 3}}
	if got := r.sourceIPs([]string{"ws://127.0.0.1:1/ws", "ws://localhost:2/ws"}); got != nil {
		t.Errorf("a name: %v", got)
	}
	if got := r.sourceIPs([]string{"ws://127.0.0.1:1/ws", "ws://127.0.0.5:2/ws"}); !reflect.DeepEqual(got, []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}) {
		t.Errorf("loopback: %v", got)
	}
	for _, u := range []string{"ws://10.0.0.1:1/ws", "ws://[::1]:1/ws", "://bad"} {
		if got := r.sourceIPs([]string{u}); got != nil {
			t.Errorf("%s: %v", u, got)
		}
	}
	r.cfg.SourceIPs = 1000
	if got := r.sourceIPs([]string{"ws://127.0.0.1:1/ws"}); len(got) != 250 || got[249] != "127.0.0.251" {
		t.Errorf("capped at 250: %d, last %s", len(got), got[len(got)-1])
	}
	r.cfg.SourceIPs = 0
	if got := r.sourceIPs([]string{"ws://127.0.0.1:1/ws"}); got != nil {
		t.Errorf("--source-ips 0: %v", got)
	}
}

// Up to --conns-per-process the clients stay in the bench process; beyond, a
// worker binary that cannot start fails the pool.
func TestOpenPool(t *testing.T) {
	r := &runner{cfg: &Config{ConnsPerProcess: 100, SourceIPs: 2, ClientPing: time.Second}, heraldBin: "/nonexistent/herald"}
	e := &env{urls: []string{"ws://127.0.0.1:1/ws"}, secret: "s"}
	p, err := r.openPool(e, 100, modeUnicast, true, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	g := p.groups[0].(*localGroup)
	want := GroupSpec{URLs: e.urls, First: 0, Count: 100, Total: 100, UserPrefix: "u", Mode: modeUnicast, Secret: "s",
		SourceIPs: []string{"127.0.0.2", "127.0.0.3"}, PingNs: int64(time.Second), DialTimeoutNs: int64(30 * time.Second), Failover: true}
	if p.processes != 1 || len(p.groups) != 1 || !reflect.DeepEqual(g.spec, want) {
		t.Errorf("local pool: %d processes, spec %+v", p.processes, g.spec)
	}
	if _, err := r.openPool(e, 101, modeUnicast, false, t.TempDir()); err == nil {
		t.Error("a pool that needs a worker opened without one")
	}
}
