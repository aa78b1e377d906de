package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/gateway/auth"
)

func TestUserOf(t *testing.T) {
	tok, err := auth.Mint([]byte("s"), auth.Claims{User: "u42", Expiry: time.Now().Add(time.Hour)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	claims := func(json string) string {
		return "Bearer h." + base64.RawURLEncoding.EncodeToString([]byte(json)) + ".s"
	}
	for _, tc := range []struct {
		header string
		user   int
		ok     bool
	}{
		{"Bearer " + tok, 42, true},
		{claims(`{"sub":"u7"}`), 7, true}, // not verified: the baseline measures sockets
		{claims(`{"sub":"u"}`), 0, false},
		{claims(`{"sub":"ux"}`), 0, false},
		{claims(`{"sub":7}`), 0, false},
		{"Bearer a.b", 0, false},
		{"Bearer a.!!!.c", 0, false},
		{"", 0, false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/ws", nil)
		r.Header.Set("Authorization", tc.header)
		if u, ok := userOf(r); u != tc.user || ok != tc.ok {
			t.Errorf("userOf(%q) = %d, %v", tc.header, u, ok)
		}
	}
}

// The baseline's frames have the shape of Herald's push frames and carry the
// bench's payload.
func TestBaselineFrame(t *testing.T) {
	var f struct {
		Type, ID, Offset, To, Topic string
		TS                          int64
		Data                        json.RawMessage
	}
	now := time.Now().UnixNano()
	b := baselineFrame([]byte("junk"), &baselineJob{Mode: modeUnicast, Payload: 100}, 17, 3, now)
	if !bytes.HasPrefix(b, []byte("junk{")) || json.Unmarshal(b[4:], &f) != nil {
		t.Fatalf("frame %s", b)
	}
	if f.Type != "push" || f.ID != "b17" || f.Offset != "1-17" || f.To != "u3" || f.Topic != "" || f.TS != now/1e6 {
		t.Errorf("frame %+v", f)
	}
	if p, ok := parsePayload(f.Data); !ok || p.N != 17 || p.T != now || p.Warm || len(f.Data) != 100 {
		t.Errorf("payload %s: %+v", f.Data, p)
	}
	b = baselineFrame(nil, &baselineJob{Mode: modeBroadcast, Topic: "news", Payload: 60}, 5, 3, now)
	f.To = ""
	if json.Unmarshal(b, &f) != nil || f.Topic != "news" || f.To != "" {
		t.Errorf("broadcast frame %s", b)
	}
}

// baselineUnderTest is a baseline server in this process with clients connected.
type baselineUnderTest struct {
	srv  *httptest.Server
	s    *baselineServer
	g    *localGroup
	pool *clientPool
}

func startBaselineUnderTest(t *testing.T, clients int, mode string) *baselineUnderTest {
	t.Helper()
	s := newBaselineServer(128)
	srv := httptest.NewServer(s.handler())
	t.Cleanup(srv.Close)
	g := newTestGroup(t, GroupSpec{URLs: []string{"ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"}, Count: clients, Total: clients, Mode: mode})
	res, err := g.Connect(context.Background(), clients)
	if err != nil || res.Connected != clients {
		t.Fatalf("connect: %+v %v", res, err)
	}
	t.Cleanup(func() { _ = g.Close() })
	for s.nconns.Load() != int64(clients) {
		time.Sleep(time.Millisecond)
	}
	return &baselineUnderTest{srv: srv, s: s, g: g, pool: &clientPool{groups: []group{g}, total: clients}}
}

// waitDelivered waits until the clients received n distinct messages.
func (b *baselineUnderTest) waitDelivered(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.g.Delivered() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := b.g.Delivered(); got != n {
		t.Errorf("delivered %d, want %d", got, n)
	}
}

func (b *baselineUnderTest) source(mode string, clients int) *baselineSource {
	e := &env{bases: []string{b.srv.URL}}
	return newBaselineSource(e, mode, clients, "news", &Config{Payload: 100, BaselineWriters: 2})
}

// Paced unicast: message n to user n % clients, every message delivered once.
func TestBaselinePacedUnicast(t *testing.T) {
	b := startBaselineUnderTest(t, 3, modeUnicast)
	src := b.source(modeUnicast, 3)
	if err := src.run(context.Background(), pubPlan{rate: 500, dur: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	pub := src.published()
	if pub < 30 || pub > 100 || src.expected() != pub || src.errorCount() != 0 || src.firstError() != "" {
		t.Errorf("published %d (want at most and about 100), expected %d, errors %d", pub, src.expected(), src.errorCount())
	}
	b.waitDelivered(t, pub)
	if tk, _ := b.g.Tick(); tk.Misrouted != 0 || tk.Dup != 0 || tk.Bad != 0 {
		t.Errorf("tick %+v", tk)
	}
}

// Paced broadcast: each message to every client.
func TestBaselinePacedBroadcast(t *testing.T) {
	b := startBaselineUnderTest(t, 3, modeBroadcast)
	src := b.source(modeBroadcast, 3)
	if err := src.run(context.Background(), pubPlan{rate: 200, dur: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if pub := src.published(); pub < 10 || pub > 40 || src.expected() != 3*pub {
		t.Errorf("published %d, expected %d", pub, src.expected())
	}
	b.waitDelivered(t, src.expected())
}

// Flat out with a window: never more frames in flight than the window allows,
// the clients' count streamed back by POST /credit.
func TestBaselineFlatOutWindow(t *testing.T) {
	for _, mode := range []string{modeUnicast, modeBroadcast} {
		t.Run(mode, func(t *testing.T) {
			b := startBaselineUnderTest(t, 4, mode)
			src := b.source(mode, 4)
			fanout := fanoutOf(mode, 4)
			maxInFlight := int64(0)
			stop := make(chan struct{})
			watched := make(chan struct{})
			go func() { // what the server wrote less what the clients got, sampled
				defer close(watched)
				for {
					select {
					case <-stop:
						return
					default:
					}
					maxInFlight = max(maxInFlight, b.s.frames.Load()-b.g.Delivered())
					time.Sleep(100 * time.Microsecond)
				}
			}()
			err := src.run(context.Background(), pubPlan{dur: 300 * time.Millisecond, window: 5, fanout: fanout, delivery: b.pool.delivered})
			close(stop)
			<-watched
			if err != nil {
				t.Fatal(err)
			}
			if src.published() < 5 {
				t.Errorf("published %d", src.published())
			}
			b.waitDelivered(t, src.expected())
			// The credit lags by up to a millisecond, so allow the writers one frame each.
			if limit := 5*fanout + 2; maxInFlight > limit {
				t.Errorf("%d frames in flight, window %d", maxInFlight, 5*fanout)
			}
		})
	}
}

// POST /run refuses a bad job and a second job; /status and /healthz answer.
func TestBaselineServerEndpoints(t *testing.T) {
	s := newBaselineServer(128)
	srv := httptest.NewServer(s.handler())
	defer srv.Close()
	post := func(path, body string) (int, string) {
		res, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, _ := post("/run", `{"total":0}`); code != http.StatusBadRequest {
		t.Errorf("a job for no client: %d", code)
	}
	if code, _ := post("/run", `nope`); code != http.StatusBadRequest {
		t.Errorf("a bad job: %d", code)
	}
	s.jobMu.Lock()
	if code, body := post("/run", `{"total":1,"dur_ns":1}`); code != http.StatusConflict || !strings.Contains(body, "a job is running") {
		t.Errorf("a second job: %d %s", code, body)
	}
	s.jobMu.Unlock()
	// A job with no client connected ends with nothing written.
	code, body := post("/run", `{"mode":"unicast","total":2,"dur_ns":20000000,"rate":1000}`)
	var st baselineStatus
	if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil || st.Running || st.Published < 10 || st.Frames != 0 {
		t.Errorf("job without clients: %d %s", code, body)
	}
	if err := getJSON(context.Background(), srv.URL+"/status", &st); err != nil || st.Conns != 0 || st.Published == 0 {
		t.Errorf("status %+v %v", st, err)
	}
	if code, _ := post("/credit", "5\nx\n12\n"); code != http.StatusOK || s.delivered.Load() != 12 {
		t.Errorf("credit: %d, delivered %d", code, s.delivered.Load())
	}
	res, err := http.Get(srv.URL + "/healthz")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("healthz %v %v", res, err)
	} else {
		res.Body.Close()
	}
	// A client without a token is refused before the upgrade.
	res, err = http.Get(srv.URL + "/ws")
	if err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("ws without a token: %v %v", res, err)
	} else {
		res.Body.Close()
	}
}

// wait lets a flat-out writer on while the window has room, and ends with the job.
func TestBaselineWindowWait(t *testing.T) {
	s := newBaselineServer(128)
	job := &baselineJob{WindowFrames: 10}
	s.frames.Store(15)
	s.delivered.Store(6) // 9 in flight
	if !s.wait(context.Background(), job, time.Now().Add(time.Second)) {
		t.Error("held with room in the window")
	}
	s.delivered.Store(5) // 10 in flight: full
	start := time.Now()
	if s.wait(context.Background(), job, start.Add(30*time.Millisecond)) || time.Since(start) < 30*time.Millisecond {
		t.Error("a full window let the writer on, or did not wait for the end")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if s.wait(ctx, job, time.Now().Add(time.Hour)) {
		t.Error("a cancelled job let the writer on")
	}
	if !s.wait(ctx, &baselineJob{}, time.Now()) {
		t.Error("no window held the writer")
	}
}

// The source reports the server's refusal and a job that wrote nothing.
func TestBaselineSourceErrors(t *testing.T) {
	var mu sync.Mutex // the handler's goroutine and the test's share these
	var jobs []baselineJob
	var status int
	var reply baselineStatus
	set := func(code int, st baselineStatus) { mu.Lock(); status, reply = code, st; mu.Unlock() }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		var j baselineJob
		_ = json.NewDecoder(r.Body).Decode(&j)
		jobs = append(jobs, j)
		if status != http.StatusOK {
			http.Error(w, "busy", status)
			return
		}
		_ = json.NewEncoder(w).Encode(reply)
	}))
	defer srv.Close()
	src := newBaselineSource(&env{bases: []string{srv.URL}}, modeUnicast, 7, "t", &Config{Payload: 80, BaselineWriters: 3})
	set(http.StatusConflict, baselineStatus{})
	if err := src.run(context.Background(), pubPlan{rate: 10, dur: time.Second}); err == nil || err.Error() != "baseline /run: 409 Conflict: busy\n" {
		t.Errorf("refused: %v", err)
	}
	set(http.StatusOK, baselineStatus{})
	if err := src.run(context.Background(), pubPlan{rate: 10, dur: time.Second}); err == nil || !strings.Contains(err.Error(), "wrote nothing") {
		t.Errorf("nothing written: %v", err)
	}
	set(http.StatusOK, baselineStatus{Published: 3, Frames: 3, Errors: 1, FirstError: "broken pipe"})
	if err := src.run(context.Background(), pubPlan{rate: 10, dur: time.Second}); err != nil || src.published() != 3 || src.errorCount() != 1 || src.firstError() != "broken pipe" {
		t.Errorf("final status not taken: %v %d %d %q", err, src.published(), src.errorCount(), src.firstError())
	}
	want := baselineJob{Mode: modeUnicast, Rate: 10, DurNs: int64(time.Second), Total: 7, Payload: 80, Topic: "t", Writers: 3}
	mu.Lock()
	defer mu.Unlock()
	if len(jobs) != 3 || jobs[0] != want {
		t.Errorf("jobs %+v, want %+v", jobs, want)
	}
}

// The credit stream sends the delivery count when it changes, until stopped.
func TestStreamCredit(t *testing.T) {
	lines := make(chan string, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		for _, l := range strings.Fields(string(b)) {
			lines <- l
		}
		close(lines)
	}))
	defer srv.Close()
	src := &baselineSource{base: srv.URL}
	var n int64 = 3
	stop := src.streamCredit(context.Background(), func() int64 { return n })
	time.Sleep(20 * time.Millisecond)
	stop()
	var got []string
	for l := range lines {
		got = append(got, l)
	}
	if strings.Join(got, ",") != "3" {
		t.Errorf("credit lines %v: want one, the count did not change", got)
	}
}
