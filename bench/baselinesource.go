package bench

import (
	"bytes"
	"context"
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

	"github.com/herald-push/herald/streams/redisserver"
)

// The bench's side of the baseline: it starts the baseline server process and,
// as the scenario's source, tells it to write the measured frames (POST /run),
// polls its status and streams the clients' delivery count to it (POST /credit).

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

// run has the baseline server write the job's frames, and returns when the job
// ended with its final counts.
func (s *baselineSource) run(ctx context.Context, p pubPlan) error {
	job := baselineJob{Mode: s.mode, Rate: p.rate, DurNs: int64(p.dur), Total: s.clients, Payload: s.payload, Topic: s.topic, Writers: s.writers}
	if p.rate <= 0 && p.window > 0 {
		job.WindowFrames = p.window * max(p.fanout, 1)
		stopCredit := s.streamCredit(ctx, p.delivery)
		defer stopCredit()
	}
	halt := s.pollStatus(ctx)
	defer halt()
	st, err := s.postJob(ctx, job)
	if err != nil {
		return err
	}
	halt() // no status poll may overwrite the final one
	s.update(st)
	if st.Published == 0 {
		return errors.New("baseline server wrote nothing (no clients registered?)")
	}
	return nil
}

// postJob is POST /run: it returns when the job has ended, with its final status.
func (s *baselineSource) postJob(ctx context.Context, job baselineJob) (baselineStatus, error) {
	var st baselineStatus
	body, _ := json.Marshal(job)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/run", bytes.NewReader(body))
	if err != nil {
		return st, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return st, fmt.Errorf("baseline /run: %s: %s", res.Status, b)
	}
	err = json.NewDecoder(res.Body).Decode(&st)
	return st, err
}

// pollStatus reads GET /status every 250 ms while the job runs, for the
// monitor's per-second figures, until the returned function is called; that
// function waits for the poller to stop and may be called again.
func (s *baselineSource) pollStatus(ctx context.Context) (halt func()) {
	stop := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
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
	return func() { once.Do(func() { close(stop) }); wg.Wait() }
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
