package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

func TestOversizeFrameIsRefusedBeforeItsPayload(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{}, "--limits.max_frame_bytes", "1024")
	c := connect(t, n, "alice", "")
	other := connect(t, n, "alice", "")
	c.send(t, fmt.Sprintf(`{"type":"send","ref":"r","data":%q}`, strings.Repeat("x", 4096)))
	if code := c.closeCode(5 * time.Second); code != 1009 {
		t.Fatalf("close code %d, want 1009 (message too big)", code)
	}
	testkit.Eventually(t, 5*time.Second, func() error {
		if m := metricValue(t, n, "herald_oversize_frames_total"); m != 1 {
			return errorf("herald_oversize_frames_total = %v", m)
		}
		return nil
	})
	xadd(t, n, "to", "alice", "data", `{"seq":0}`)
	other.pushes(1, 5*time.Second) // the user's other session goes on
}

func TestFrameFloodIsCutWith4003(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{}, "--limits.frames_per_second", "10")
	c := connect(t, n, "alice", "")
	other := connect(t, n, "bob", "")
	for i := 0; i < 100; i++ {
		if c.conn.WriteString("garbage") != nil {
			break
		}
	}
	var errs, limited int
	code := c.closeCode(5 * time.Second)
	for len(c.frames) > 0 { // everything read before the close
		if f := <-c.frames; f.str("type") == "error" {
			errs++
			if f.str("code") == wire.CodeRateLimited {
				limited++
			}
		}
	}
	if code != wire.ClosePolicy || errs < 10 || limited == 0 {
		t.Fatalf("close %d after %d error frames (%d rate_limited); want 4003 after errors", code, errs, limited)
	}
	xadd(t, n, "to", "bob", "data", `{"seq":0}`)
	other.pushes(1, 5*time.Second)
}

func TestHandshakeRateLimitPerAddress(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{}, "--limits.handshakes_per_second", "5")
	var limited int
	for i := 0; i < 20; i++ {
		res, err := http.Get("http://" + n.Addr() + "/ws?token=x")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited < 10 {
		t.Fatalf("%d of 20 rapid handshakes limited, want most past the burst of 5", limited)
	}
	if m := metricValue(t, n, "herald_handshakes_limited_total"); m != float64(limited) {
		t.Fatalf("metric %v, limited %d", m, limited)
	}
}

// A client that sends half a request is cut after gateway.handshake_timeout.
func TestSlowHandshakeIsCut(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{}, "--gateway.handshake_timeout", "500ms")
	conn, err := net.Dial("tcp", n.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	_, err = bufio.NewReader(conn).ReadString('\n')
	for err == nil {
		_, err = bufio.NewReader(conn).ReadString('\n')
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("half a request still open after %v", time.Since(start))
	}
	testkit.Eventually(t, 5*time.Second, func() error {
		if m := metricValue(t, n, "herald_slow_handshakes_total"); m != 1 {
			return errorf("herald_slow_handshakes_total = %v", m)
		}
		return nil
	})
}

// Whatever alice sends, she never gets bob's pushes.
func TestAUserNeverReceivesAnotherUsersPushes(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{}, "--topics.subscribe", "news,user.{user}")
	bob := connect(t, n, "bob", "")
	xadd(t, n, "to", "bob", "data", `{"secret":1}`)
	xadd(t, n, "topic", "user.bob", "data", `{"secret":2}`)
	bobOffset := bob.pushes(1, 5*time.Second)[0].str("offset")

	alice := connect(t, n, "alice", "since=0-0") // resume from the very start: her own stream only
	alice.expect(t, "recovered", "")
	for _, f := range []string{
		`{"type":"subscribe","topic":"user.bob","since":"0-0"}`,
		fmt.Sprintf(`{"type":"ack","offset":%q}`, bobOffset),
		`{"type":"subscribe","topic":"user.bob"}`,
		`{"type":"send","ref":"r","data":1,"user":"bob"}`,
		`{"type":"unsubscribe","topic":"user.bob"}`,
	} {
		alice.send(t, f)
	}
	xadd(t, n, "to", "bob", "data", `{"secret":3}`)
	xadd(t, n, "topic", "user.bob", "data", `{"secret":4}`)
	deadline := time.After(time.Second)
	for {
		select {
		case f := <-alice.frames:
			if f.str("type") == "push" {
				t.Fatalf("alice got %v", f)
			}
		case <-deadline:
			return
		}
	}
}

func TestRedisPasswordAndSecretsStayOutOfLogs(t *testing.T) {
	const password = "redis-pass-0123456789"
	srv := redistest.Start(t, redistest.Options{Password: password})
	out := &testkit.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	env := []string{"HERALD_AUTH__HMAC_SECRET=" + testSecret, "HERALD_PUBLISH__API_KEY=api-key-0123456789"}
	var wg sync.WaitGroup
	wg.Add(1)
	addr := testkit.FreeAddr(t)
	go func() {
		defer wg.Done()
		run(ctx, []string{"serve", "--redis.addr", srv.Addr, "--redis.password", password, "--server.addr", addr, "--log.level", "debug"}, env, out, out)
	}()
	testkit.Eventually(t, 10*time.Second, func() error { return readyStatus(addr, http.StatusOK) })
	cancel()
	wg.Wait()

	var errOut bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--redis.addr", srv.Addr, "--server.addr", "127.0.0.1:0"}, env, &errOut, &errOut); code == 0 || !strings.Contains(errOut.String(), "NOAUTH") {
		t.Fatalf("without the password: exit %d, %q; want a NOAUTH error", code, errOut.String())
	}
	var cfgOut bytes.Buffer
	run(context.Background(), []string{"config", "--redis.addr", srv.Addr, "--redis.password", password}, env, &cfgOut, &cfgOut)
	for _, secret := range []string{password, testSecret, "api-key-0123456789"} {
		if strings.Contains(out.String(), secret) || strings.Contains(cfgOut.String(), secret) || strings.Contains(errOut.String(), secret) {
			t.Fatalf("a secret appears in the output")
		}
	}
}

// 10,000 connect/disconnect cycles end with goroutines and heap back at baseline.
func TestConnectDisconnectSoak(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{})
	cycle := func(i int) { // a bare client, so that only the node's memory is measured
		h := &soakClient{welcome: make(chan struct{}, 1), closed: make(chan struct{})}
		conn, _, err := gws.NewClient(h, &gws.ClientOption{Addr: "ws://" + n.Addr() + "/ws?token=" + mint(t, fmt.Sprint("u", i%500), "", time.Hour)})
		if err != nil {
			t.Error(err)
			return
		}
		go conn.ReadLoop()
		<-h.welcome
		_ = conn.WriteClose(1000, nil)
		<-h.closed
	}
	for i := 0; i < 100; i++ { // warm up pools
		cycle(i)
	}
	settle := func() (int, uint64) {
		var g int
		var heap uint64
		testkit.Eventually(t, 20*time.Second, func() error {
			if m := metricValue(t, n, "herald_sessions"); m != 0 {
				return errorf("%v sessions left", m)
			}
			return nil
		})
		time.Sleep(200 * time.Millisecond)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		g, heap = runtime.NumGoroutine(), ms.HeapAlloc
		return g, heap
	}
	g0, h0 := settle()
	const cycles, workers = 10_000, 16
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < cycles; i += workers {
				cycle(i)
			}
		}(w)
	}
	wg.Wait()
	g1, h1 := settle()
	t.Logf("after %d cycles: goroutines %d -> %d, heap %.1f -> %.1f MiB", cycles, g0, g1, float64(h0)/(1<<20), float64(h1)/(1<<20))
	if g1 > g0+10 {
		t.Fatalf("goroutines grew from %d to %d", g0, g1)
	}
	if h1 > h0+16<<20 {
		t.Fatalf("heap grew from %d to %d", h0, h1)
	}
}

type soakClient struct {
	gws.BuiltinEventHandler
	welcome chan struct{}
	closed  chan struct{}
}

func (s *soakClient) OnMessage(_ *gws.Conn, m *gws.Message) {
	m.Close()
	select {
	case s.welcome <- struct{}{}:
	default:
	}
}

func (s *soakClient) OnClose(*gws.Conn, error) { close(s.closed) }
