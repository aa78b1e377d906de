package gateway

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/streams"
)

// The test harness: a gateway on a loopback port with fakes for what New takes
// (Sessions, Publisher, Ready), and the clients that talk to it.

const testSecret = "gateway-test-secret-0123456789abcdef"

// testServer is a running gateway.
type testServer struct {
	*Server
	addr     string // host:port
	metrics  *Metrics
	reg      *prometheus.Registry
	served   chan struct{} // closed when Serve returned, with serveErr
	serveErr error
}

func (s *testServer) url(path string) string   { return "http://" + s.addr + path }
func (s *testServer) wsURL(path string) string { return "ws://" + s.addr + path }

// testConfig is the configuration cmd/herald would give, with its defaults.
func testConfig() Config {
	return Config{
		Node: "n1", WriteTimeout: 5 * time.Second, HandshakeTimeout: 5 * time.Second,
		PingTimeout: time.Minute, ReadBufferSize: 128, MaxFrameBytes: 128 << 10,
		MaxPayloadBytes: 64 << 10,
	}
}

// startServer runs New(cfg, deps) on a free loopback port until the test ends.
// Missing deps get fakes: sessions that open nothing, a publisher that fails, a
// node that is ready.
func startServer(t *testing.T, cfg Config, deps Deps) *testServer {
	t.Helper()
	ts := &testServer{reg: prometheus.NewRegistry()}
	if deps.Verifier == nil {
		deps.Verifier = auth.NewVerifier([]byte(testSecret), 5*time.Second)
	}
	if deps.Sessions == nil {
		deps.Sessions = newFakeSessions()
	}
	if deps.Publisher == nil {
		deps.Publisher = &fakePublisher{}
	}
	if deps.Ready == nil {
		deps.Ready = func(context.Context) error { return nil }
	}
	if deps.Metrics == nil {
		deps.Metrics = NewMetrics(ts.reg)
	}
	if deps.Log == nil {
		deps.Log = quietLog()
	}
	ts.metrics = deps.Metrics
	ts.Server = New(cfg, deps)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	ts.served = make(chan struct{})
	go func() {
		defer close(ts.served)
		ts.serveErr = ts.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ts.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		<-ts.served
		if ts.serveErr != nil {
			t.Errorf("Serve: %v", ts.serveErr)
		}
	})
	return ts
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// opened is one session the fake Sessions was asked to open.
type opened struct {
	spec actors.SessionSpec
	sock *socket
}

// fakeSessions records what the gateway hands to the session layer. It opens no
// actor: its handle is nil, which the gateway's events treat as no session.
type fakeSessions struct {
	err    error // when set, Open refuses with it, as a draining node does
	opened chan opened
}

func newFakeSessions() *fakeSessions { return &fakeSessions{opened: make(chan opened, 64)} }

func (f *fakeSessions) Open(spec actors.SessionSpec, sock actors.Socket) (*actors.Handle, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.opened <- opened{spec: spec, sock: sock.(*socket)}
	return nil, nil
}

// next waits for the next session opened.
func (f *fakeSessions) next(t *testing.T) opened {
	t.Helper()
	select {
	case o := <-f.opened:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("no session opened within 10 s")
		return opened{}
	}
}

// none fails the test if a session was opened.
func (f *fakeSessions) none(t *testing.T) {
	t.Helper()
	select {
	case o := <-f.opened:
		t.Fatalf("a session was opened: %+v", o.spec)
	default:
	}
}

// fakePublisher records publications and answers with result.
type fakePublisher struct {
	mu     sync.Mutex
	got    []streams.Publication
	result func(p streams.Publication) (string, error)
}

func (f *fakePublisher) Publish(_ context.Context, p streams.Publication) (string, error) {
	f.mu.Lock()
	f.got = append(f.got, p)
	f.mu.Unlock()
	if f.result == nil {
		return "", io.ErrUnexpectedEOF // a publisher nobody configured: Redis away
	}
	return f.result(p)
}

func (f *fakePublisher) calls() []streams.Publication {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]streams.Publication(nil), f.got...)
}

// mint signs a token for c with the test secret.
func mint(t *testing.T, c auth.Claims) string {
	t.Helper()
	if c.Expiry.IsZero() {
		c.Expiry = time.Now().Add(time.Hour)
	}
	tok, err := auth.Mint([]byte(testSecret), c, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// bearer is an Authorization header with tok.
func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// answer is an HTTP response with its body read.
type answer struct {
	status int
	header http.Header
	body   string
}

// reason is the "error" of a JSON refusal, or the body when it is not one.
func (a answer) reason() string {
	var v struct{ Error string }
	if json.Unmarshal([]byte(a.body), &v) != nil || v.Error == "" {
		return "(not a JSON refusal) " + a.body
	}
	return v.Error
}

// request sends one HTTP request on a connection of its own, so that no idle
// keep-alive connection outlives the test.
func request(t *testing.T, method, url string, hdr http.Header, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: res.StatusCode, header: res.Header, body: string(b)}
}

// wantJSONRefusal checks a refusal's status, JSON shape and reason.
func wantJSONRefusal(t *testing.T, a answer, status int, reason string) {
	t.Helper()
	if a.status != status {
		t.Errorf("status %d, want %d (%s)", a.status, status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if got := a.reason(); !strings.Contains(got, reason) {
		t.Errorf("reason %q, want it to say %q", got, reason)
	}
}

// value reads a counter or a gauge.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
