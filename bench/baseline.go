package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"

	"github.com/herald-push/herald/streams/redisserver"
)

// The baseline is the machine's own ceiling: a bare gws server, in its own process,
// that writes push frames of the same shape as Herald's to the same clients, with
// no Redis, no actors, no JWT check. `herald bench internal-baseline-server` runs it;
// the bench starts it and drives it over HTTP (POST /run).

// baselineJob is what POST /run asks for.
type baselineJob struct {
	Mode    string  `json:"mode"` // unicast or broadcast
	Rate    float64 `json:"rate"` // messages/s; 0 = flat out
	DurNs   int64   `json:"dur_ns"`
	Total   int     `json:"total"` // clients (users u0..u<total-1>)
	Payload int     `json:"payload"`
	Topic   string  `json:"topic"`
	Writers int     `json:"writers"`
	// WindowFrames bounds, flat out, the frames written but not yet received by
	// the clients (the bench streams the clients' count to POST /credit), as the
	// bench's publisher bounds the messages in flight to Herald. 0: no bound.
	WindowFrames int64 `json:"window_frames"`
}

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
	s := &baselineServer{conns: map[int]*gws.Conn{}}
	s.firstErr.Store("")
	s.upgrader = gws.NewUpgrader(baselineEvents{s: s}, &gws.ServerOption{
		ReadBufferSize:     *rbuf,
		ReadMaxPayloadSize: 128 << 10,
		Recovery:           gws.Recovery,
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.serveWS)
	mux.HandleFunc("/run", s.serveRun)
	mux.HandleFunc("/credit", s.serveCredit)
	mux.HandleFunc("/status", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(s.status())
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.Handle("/metrics", promhttp.Handler())
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening %s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
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

// frame builds a push frame like Herald's, for user u (or the topic) and message n.
func baselineFrame(dst []byte, job *baselineJob, n int64, u int, now int64) []byte {
	dst = append(dst, `{"type":"push","id":"b`...)
	dst = strconv.AppendInt(dst, n, 10)
	dst = append(dst, `","offset":"1-`...)
	dst = strconv.AppendInt(dst, n, 10)
	if job.Mode == modeBroadcast {
		dst = append(dst, `","topic":"`...)
		dst = append(dst, job.Topic...)
	} else {
		dst = append(dst, `","to":"u`...)
		dst = strconv.AppendInt(dst, int64(u), 10)
	}
	dst = append(dst, `","ts":`...)
	dst = strconv.AppendInt(dst, now/1e6, 10)
	dst = append(dst, `,"data":`...)
	dst = appendPayload(dst, n, now, false, job.Payload)
	return append(dst, '}')
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

// wait holds a flat-out writer while the window is full; false when the job ends.
func (s *baselineServer) wait(ctx context.Context, job *baselineJob, end time.Time) bool {
	for job.WindowFrames > 0 && s.frames.Load()-s.delivered.Load() >= job.WindowFrames {
		if ctx.Err() != nil || !time.Now().Before(end) {
			return false
		}
		time.Sleep(50 * time.Microsecond)
	}
	return true
}

func (s *baselineServer) runJob(ctx context.Context, job *baselineJob) {
	if job.Writers <= 0 {
		job.Writers = 4
	}
	end := time.Now().Add(time.Duration(job.DurNs))
	W := job.Writers
	var wg sync.WaitGroup
	if job.Rate <= 0 {
		// Flat out: writer w owns users w, w+W, ...; every round writes one message
		// to each (unicast: message k*Total+u; broadcast: message k to all).
		rounds := make([]int64, W)
		for w := 0; w < W; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				buf := make([]byte, 0, job.Payload+256)
				for k := int64(0); ; k++ {
					for u := w; u < job.Total; u += W {
						if ctx.Err() != nil || !time.Now().Before(end) {
							return
						}
						c := s.conn(u)
						if c == nil {
							continue
						}
						if !s.wait(ctx, job, end) {
							return
						}
						n := k
						if job.Mode != modeBroadcast {
							n = k*int64(job.Total) + int64(u)
							s.published.Add(1)
						}
						buf = baselineFrame(buf[:0], job, n, u, time.Now().UnixNano())
						s.write(c, buf)
					}
					rounds[w] = k + 1
				}
			}(w)
		}
		wg.Wait()
		if job.Mode == modeBroadcast {
			var m int64
			for _, k := range rounds {
				m = max(m, k)
			}
			s.published.Store(m)
		}
		return
	}
	// Paced: message n at rate; unicast to user n % Total, broadcast to every user.
	chans := make([]chan int64, W)
	for w := range chans {
		chans[w] = make(chan int64, 4096)
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			buf := make([]byte, 0, job.Payload+256)
			for n := range chans[w] {
				if job.Mode == modeBroadcast {
					for u := w; u < job.Total; u += W {
						if c := s.conn(u); c != nil {
							buf = baselineFrame(buf[:0], job, n, u, time.Now().UnixNano())
							s.write(c, buf)
						}
					}
					continue
				}
				u := int(n % int64(job.Total))
				if c := s.conn(u); c != nil {
					buf = baselineFrame(buf[:0], job, n, u, time.Now().UnixNano())
					s.write(c, buf)
				}
			}
		}(w)
	}
	start := time.Now()
	var sent int64
	for ctx.Err() == nil && time.Now().Before(end) {
		due := int64(job.Rate * time.Since(start).Seconds())
		for ; sent < due; sent++ {
			s.published.Add(1)
			if job.Mode == modeBroadcast {
				for _, ch := range chans {
					ch <- sent
				}
			} else {
				chans[int(sent%int64(job.Total))%W] <- sent
			}
		}
		time.Sleep(time.Millisecond)
	}
	for _, ch := range chans {
		close(ch)
	}
	wg.Wait()
}

// startBaselineServer starts the baseline server process for e.
func (r *runner) startBaselineServer(ctx context.Context, e *env, dir string) error {
	var lastErr error
	for try := 0; try < 3; try++ {
		port, err := redisserver.FreePort()
		if err != nil {
			return err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		p, err := startServerProc(ctx, "baseline server", r.heraldBin,
			[]string{"bench", "internal-baseline-server", "--addr", addr}, addr, "/healthz",
			filepath.Join(dir, "baseline.log"))
		if err == nil {
			e.procs = []*serverProc{p}
			e.urls = []string{"ws://" + addr + "/ws"}
			e.bases = []string{"http://" + addr}
			e.secret = newSecret()
			return nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return lastErr
}

// baselineSource drives the baseline server's writers.
type baselineSource struct {
	base     string
	mode     string
	topic    string
	clients  int
	payload  int
	writers  int
	pub, exp atomic.Int64
	errs     atomic.Int64
	firstErr atomic.Value
}

func newBaselineSource(e *env, mode string, clients int, topic string, cfg *Config) *baselineSource {
	s := &baselineSource{base: e.bases[0], mode: mode, topic: topic, clients: clients, payload: cfg.Payload, writers: cfg.BaselineWriters}
	s.firstErr.Store("")
	return s
}

func (s *baselineSource) published() int64  { return s.pub.Load() }
func (s *baselineSource) expected() int64   { return s.exp.Load() }
func (s *baselineSource) errorCount() int64 { return s.errs.Load() }
func (s *baselineSource) firstError() string {
	return s.firstErr.Load().(string)
}

func (s *baselineSource) update(st baselineStatus) {
	s.pub.Store(st.Published)
	s.exp.Store(st.Frames)
	s.errs.Store(st.Errors)
	if st.FirstError != "" {
		s.firstErr.CompareAndSwap("", st.FirstError)
	}
}

func (s *baselineSource) run(ctx context.Context, p pubPlan) error {
	job := baselineJob{Mode: s.mode, Rate: p.rate, DurNs: int64(p.dur), Total: s.clients, Payload: s.payload, Topic: s.topic, Writers: s.writers}
	if p.rate <= 0 && p.window > 0 {
		job.WindowFrames = p.window * max(p.fanout, 1)
		stopCredit := s.streamCredit(ctx, p.delivery)
		defer stopCredit()
	}
	body, _ := json.Marshal(job)
	stop := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	halt := func() { once.Do(func() { close(stop) }); wg.Wait() }
	wg.Add(1)
	go func() { // progress while the job runs
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				var st baselineStatus
				if getJSON(ctx, s.base+"/status", &st) == nil && st.Running {
					s.update(st)
				}
			}
		}
	}()
	defer halt()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/run", bytes.NewReader(body))
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return fmt.Errorf("baseline /run: %s: %s", res.Status, b)
	}
	var st baselineStatus
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		return err
	}
	halt() // no status poll may overwrite the final one
	s.update(st)
	if st.Published == 0 {
		return errors.New("baseline server wrote nothing (no clients registered?)")
	}
	return nil
}

// streamCredit streams the clients' delivery count to the baseline server every
// millisecond, until the returned function is called.
func (s *baselineSource) streamCredit(ctx context.Context, delivered func() int64) func() {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/credit", pr)
		if err != nil {
			_ = pr.CloseWithError(err)
			return
		}
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
		_ = pr.Close()
	}()
	go func() {
		defer wg.Done()
		defer pw.Close()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		last := int64(-1)
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if d := delivered(); d != last {
					last = d
					if _, err := fmt.Fprintf(pw, "%d\n", d); err != nil {
						return
					}
				}
			}
		}
	}()
	return func() { close(done); _ = pw.Close(); wg.Wait() }
}

func getJSON(ctx context.Context, url string, v any) error {
	return get(ctx, url, func(body io.Reader) error { return json.NewDecoder(body).Decode(v) })
}
