package bench

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"
)

// The baseline is the machine's own ceiling: a bare gws server, in its own process,
// that writes push frames of the same shape as Herald's to the same clients, with
// no Redis, no actors, no JWT check. `herald bench internal-baseline-server` runs it;
// the bench starts it and drives it over HTTP (POST /run).

// baselineStatus is GET /status and the answer to POST /run.
type baselineStatus struct {
	Running    bool   `json:"running"`
	Conns      int64  `json:"conns"`
	Published  int64  `json:"published"` // messages
	Frames     int64  `json:"frames"`    // frames written (= deliveries expected)
	Errors     int64  `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
}

type baselineServer struct {
	upgrader *gws.Upgrader
	mu       sync.RWMutex
	conns    map[int]*gws.Conn // by user index
	nconns   atomic.Int64
	seq      atomic.Int64

	jobMu     sync.Mutex
	running   atomic.Bool
	published atomic.Int64
	frames    atomic.Int64
	delivered atomic.Int64 // the clients' count, from POST /credit
	errs      atomic.Int64
	firstErr  atomic.Value
}

type baselineEvents struct {
	gws.BuiltinEventHandler
	s *baselineServer
}

func (e baselineEvents) OnClose(c *gws.Conn, _ error) {
	v, ok := c.Session().Load("u")
	if !ok {
		return
	}
	i := v.(int)
	e.s.mu.Lock()
	if e.s.conns[i] == c {
		delete(e.s.conns, i)
		e.s.nconns.Add(-1)
	}
	e.s.mu.Unlock()
}

func (e baselineEvents) OnPing(c *gws.Conn, payload []byte) {
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = c.WritePong(payload)
}

// runBaselineServer is `herald bench internal-baseline-server --addr ADDR`.
func runBaselineServer(args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("herald bench internal-baseline-server", pflag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	rbuf := fs.Int("read-buffer", 128, "per-connection read buffer (Herald's default gateway.read_buffer_size)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s := newBaselineServer(*rbuf)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening %s\n", ln.Addr())
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

// newBaselineServer is a baseline server whose connections read with a buffer
// of readBuffer bytes.
func newBaselineServer(readBuffer int) *baselineServer {
	s := &baselineServer{conns: map[int]*gws.Conn{}}
	s.firstErr.Store("")
	s.upgrader = gws.NewUpgrader(baselineEvents{s: s}, &gws.ServerOption{
		ReadBufferSize:     readBuffer,
		ReadMaxPayloadSize: 128 << 10,
		Recovery:           gws.Recovery,
	})
	return s
}

// handler serves the clients' WebSocket, the bench's control endpoints and the
// process's metrics.
func (s *baselineServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.serveWS)
	mux.HandleFunc("/run", s.serveRun)
	mux.HandleFunc("/credit", s.serveCredit)
	mux.HandleFunc("/status", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(s.status())
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.Handle("/metrics", promhttp.Handler())
	return mux
}

// userOf reads the user index from the token's sub claim, without verifying it:
// the baseline measures the socket path, not JWT checks.
func userOf(r *http.Request) (int, bool) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return 0, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return 0, false
	}
	var c struct {
		Sub string `json:"sub"`
	}
	if json.Unmarshal(b, &c) != nil || len(c.Sub) < 2 {
		return 0, false
	}
	i, err := strconv.Atoi(c.Sub[1:])
	return i, err == nil
}

func (s *baselineServer) serveWS(w http.ResponseWriter, r *http.Request) {
	u, ok := userOf(r)
	if !ok {
		http.Error(w, `{"error":"bad token"}`, http.StatusUnauthorized)
		return
	}
	c, err := s.upgrader.Upgrade(w, r)
	if err != nil {
		return
	}
	c.Session().Store("u", u)
	s.mu.Lock()
	if _, dup := s.conns[u]; !dup {
		s.nconns.Add(1)
	}
	s.conns[u] = c
	s.mu.Unlock()
	welcome := fmt.Sprintf(`{"type":"welcome","session":"baseline-%d","node":"baseline","user":"u%d"}`, s.seq.Add(1), u)
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = c.WriteMessage(gws.OpcodeText, []byte(welcome))
	go c.ReadLoop()
}

func (s *baselineServer) status() baselineStatus {
	return baselineStatus{
		Running: s.running.Load(), Conns: s.nconns.Load(), Published: s.published.Load(),
		Frames: s.frames.Load(), Errors: s.errs.Load(), FirstError: s.firstErr.Load().(string),
	}
}

func (s *baselineServer) conn(u int) *gws.Conn {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.conns[u]
}

// write writes one frame with a deadline, as Herald's sessions do.
func (s *baselineServer) write(c *gws.Conn, frame []byte) {
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.WriteMessage(gws.OpcodeText, frame); err != nil {
		s.errs.Add(1)
		s.firstErr.CompareAndSwap("", err.Error())
		return
	}
	s.frames.Add(1)
}

// serveRun runs a job to its end and answers with the final status.
func (s *baselineServer) serveRun(w http.ResponseWriter, r *http.Request) {
	var job baselineJob
	if err := json.NewDecoder(r.Body).Decode(&job); err != nil || job.Total <= 0 {
		http.Error(w, "bad job", http.StatusBadRequest)
		return
	}
	if !s.jobMu.TryLock() {
		http.Error(w, "a job is running", http.StatusConflict)
		return
	}
	defer s.jobMu.Unlock()
	s.published.Store(0)
	s.frames.Store(0)
	s.delivered.Store(0)
	s.errs.Store(0)
	s.running.Store(true)
	s.runJob(r.Context(), &job)
	s.running.Store(false)
	_ = json.NewEncoder(w).Encode(s.status())
}

// serveCredit reads the clients' delivery count, one number a line, for as long as
// the request body streams.
func (s *baselineServer) serveCredit(w http.ResponseWriter, r *http.Request) {
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		if n, err := strconv.ParseInt(sc.Text(), 10, 64); err == nil {
			s.delivered.Store(n)
		}
	}
}
