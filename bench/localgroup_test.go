package bench

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/client"
	"github.com/herald-push/herald/gateway/auth"
)

func newTestGroup(t *testing.T, spec GroupSpec) *localGroup {
	t.Helper()
	if spec.URLs == nil {
		spec.URLs = []string{"ws://127.0.0.1:1/ws"}
	}
	if spec.UserPrefix == "" {
		spec.UserPrefix = "u"
	}
	if spec.Secret == "" {
		spec.Secret = "test-secret-0123456789abcdef"
	}
	g, err := newLocalGroup(spec)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// Each member is user u<global index>, with a token its node accepts.
func TestNewLocalGroup(t *testing.T) {
	g := newTestGroup(t, GroupSpec{First: 10, Count: 3, Total: 20, Mode: modeUnicast})
	v := auth.NewVerifier([]byte("test-secret-0123456789abcdef"), 0)
	for i, m := range g.members {
		if m.i != i || m.global != 10+i || m.user != userName("u", 10+i) {
			t.Errorf("member %d: %+v", i, m)
		}
		c, err := v.Verify(m.token)
		if err != nil || c.User != m.user || time.Until(c.Expiry) < 47*time.Hour {
			t.Errorf("member %d's token: %+v %v", i, c, err)
		}
	}
	for _, spec := range []GroupSpec{{Count: 0, URLs: []string{"x"}}, {Count: 1}} {
		if _, err := newLocalGroup(spec); err == nil || err.Error() != "bench: empty client group" {
			t.Errorf("%+v: %v", spec, err)
		}
	}
}

// Clients spread over the nodes by index; with failover they know every node,
// their own first. Source addresses go round robin too.
func TestClientConfig(t *testing.T) {
	urls := []string{"ws://a/ws", "ws://b/ws", "ws://c/ws"}
	g := newTestGroup(t, GroupSpec{URLs: urls, First: 4, Count: 2, Total: 6, PingNs: int64(3 * time.Second)})
	if got := g.config(g.members[0]).URLs; !reflect.DeepEqual(got, []string{"ws://b/ws"}) { // client 4 on node 4 % 3
		t.Errorf("client 4's URLs %v", got)
	}
	g.spec.Failover = true
	if got := g.config(g.members[1]).URLs; !reflect.DeepEqual(got, []string{"ws://c/ws", "ws://a/ws", "ws://b/ws"}) {
		t.Errorf("client 5 with failover: %v", got)
	}
	cfg := g.config(g.members[0])
	if cfg.DedupeWindow != -1 || cfg.PingInterval != 3*time.Second || cfg.Dialer == nil {
		t.Errorf("config %+v", cfg)
	}
	if tok, err := cfg.Token(context.Background()); err != nil || tok != g.members[0].token {
		t.Errorf("token %q %v", tok, err)
	}
}

// The source address a client binds: dialing a closed port from 127.0.0.9
// fails with that address in the error, or succeeds in binding it at least.
func TestClientSourceAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	g := newTestGroup(t, GroupSpec{Count: 2, Total: 2, SourceIPs: []string{"127.0.0.8", "127.0.0.9"}})
	accepted := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c.RemoteAddr().(*net.TCPAddr).IP.String()
			c.Close()
		}
	}()
	c, err := g.config(g.members[1]).Dialer(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Skipf("binding 127.0.0.9 is not possible here: %v", err)
	}
	c.Close()
	if ip := <-accepted; ip != "127.0.0.9" {
		t.Errorf("client 1 came from %s, want 127.0.0.9", ip)
	}
}

func push(n, t int64, warm bool) client.Push {
	return client.Push{Data: appendPayload(nil, n, t, warm, 60)}
}

// A push counts once per (client, message); the rest is told apart.
func TestOnPushAccounting(t *testing.T) {
	g := newTestGroup(t, GroupSpec{First: 0, Count: 2, Total: 2, Mode: modeUnicast})
	m0, m1 := g.members[0], g.members[1]
	now := time.Now().UnixNano()
	m0.onPush(push(0, now-int64(3*time.Millisecond), false)) // message 0 is user 0's
	m0.onPush(push(0, now, false))                           // again
	m0.onPush(push(1, now, false))                           // user 1's
	m0.onPush(client.Push{Data: []byte(`{"x":1}`)})          // not ours
	m0.onPush(push(7, now, true))                            // warm-up, twice
	m0.onPush(push(8, now, true))
	m1.onPush(push(3, now, false)) // user 1's second message
	tk, _ := g.Tick()
	if tk.Distinct != 2 || tk.Dup != 1 || tk.Misrouted != 1 || tk.Bad != 1 || tk.Warmed != 1 || tk.LastDelivery < now {
		t.Errorf("tick %+v", tk)
	}
	if g.Delivered() != 2 {
		t.Errorf("Delivered %d", g.Delivered())
	}
	if l := summarize(decodeHist(tk.Interval)); l == nil || l.Count != 2 || l.Max < 3 || l.Max > 60000 {
		t.Errorf("latency %+v", l)
	}
	if tk2, _ := g.Tick(); decodeHist(tk2.Interval).TotalCount() != 0 || tk2.Distinct != 2 {
		t.Errorf("the next tick's interval is not empty: %+v", tk2)
	}
	f, _ := g.Final()
	if decodeHist(f.Latency).TotalCount() != 2 || f.Distinct != 2 {
		t.Errorf("final %+v", f)
	}
}

// In a broadcast every client expects every message: the sequence is the number.
func TestOnPushBroadcast(t *testing.T) {
	g := newTestGroup(t, GroupSpec{Count: 2, Total: 2, Mode: modeBroadcast})
	for _, m := range g.members {
		for n := int64(0); n < 3; n++ {
			m.onPush(push(n, time.Now().UnixNano(), false))
		}
		m.onPush(push(1, time.Now().UnixNano(), false))
	}
	if tk, _ := g.Tick(); tk.Distinct != 6 || tk.Dup != 2 || tk.Misrouted != 0 {
		t.Errorf("tick %+v", tk)
	}
}

// Connections, losses and reconnections, as the failover scenario counts them.
func TestOnStateAccounting(t *testing.T) {
	g := newTestGroup(t, GroupSpec{Count: 2, Total: 2})
	m := g.members[0]
	m.onState(client.Connecting, nil)
	m.onState(client.Connected, nil)
	if tk, _ := g.Tick(); tk.Connected != 1 || tk.Reconnects != 0 || tk.Down != 0 {
		t.Fatalf("connected: %+v", tk)
	}
	before := time.Now().UnixNano()
	m.onState(client.Disconnected, errors.New("close 1006"))
	m.onState(client.Disconnected, errors.New("dial refused")) // an attempt that failed
	tk, _ := g.Tick()
	if tk.Connected != 0 || tk.Down != 1 || tk.LastDown < before || tk.LastError != "u0: dial refused" {
		t.Fatalf("down: %+v", tk)
	}
	time.Sleep(2 * time.Millisecond)
	m.onState(client.Connected, nil)
	tk, _ = g.Tick()
	if tk.Connected != 1 || tk.Down != 0 || tk.Reconnects != 1 || tk.LastUp <= tk.LastDown {
		t.Fatalf("back: %+v", tk)
	}
	f, _ := g.Final()
	if l := summarize(decodeHist(f.Reconnect)); l == nil || l.Count != 1 || l.Min < 2 {
		t.Errorf("reconnect time %+v", l)
	}
	// Closing is not a loss: no down count, no error kept.
	g.members[1].onState(client.Connected, nil)
	g.members[1].onState(client.Closed, errors.New("4003"))
	if tk, _ := g.Tick(); tk.Connected != 1 || tk.Down != 0 || tk.LastError != "u0: dial refused" {
		t.Errorf("closed: %+v", tk)
	}
}

func TestOnErrorAccounting(t *testing.T) {
	g := newTestGroup(t, GroupSpec{Count: 1, Total: 1})
	g.members[0].onError(client.ServerError{Code: "rate_limited", Reason: "slow down"})
	g.members[0].onError(client.ServerError{Code: "not_supported", Reason: "topics are off"})
	tk, _ := g.Tick()
	if tk.ErrFrames != 2 || tk.NotSupported != 1 || tk.LastError != "u0: error frame not_supported: topics are off" {
		t.Errorf("tick %+v", tk)
	}
}

// Against a closed port every dial fails, each with its error counted.
func TestConnectFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	g := newTestGroup(t, GroupSpec{URLs: []string{"ws://" + addr + "/ws"}, Count: 3, Total: 3, DialTimeoutNs: int64(300 * time.Millisecond)})
	res, err := g.Connect(context.Background(), 0)
	if err != nil || res.Connected != 0 || res.Failed != 3 || res.FirstError == "" || res.End < res.Start {
		t.Errorf("connect: %+v %v", res, err)
	}
	if decodeHist(res.Handshake).TotalCount() != 0 {
		t.Error("handshakes recorded for failed dials")
	}
	if err := g.Subscribe("t"); err != nil {
		t.Errorf("subscribe with no client connected: %v", err)
	}
	if err := g.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res, err := g.Connect(ctx, 2); err != context.Canceled || res.Connected+res.Failed != 0 {
		t.Errorf("cancelled connect: %+v %v", res, err)
	}
}

func TestStoreMax(t *testing.T) {
	g := newTestGroup(t, GroupSpec{Count: 1, Total: 1})
	for _, v := range []int64{5, 3, 9, 9, 1} {
		storeMax(&g.lastUp, v)
	}
	if g.lastUp.Load() != 9 {
		t.Errorf("storeMax kept %d", g.lastUp.Load())
	}
	if !strings.HasPrefix(g.members[0].user, "u") {
		t.Error("user prefix")
	}
}
