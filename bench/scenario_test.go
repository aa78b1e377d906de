package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9/logging"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
)

// The scenario tests run every scenario once at a small size against real
// herald processes and redis-server, so that the suite cannot rot. The herald
// binary (with its bench subcommand, which client workers and the baseline server
// run) is built once per test run.

// heraldBin is built with its bench subcommand, which client workers and the
// baseline server run.
var heraldBin testkit.Herald

func TestMain(m *testing.M) {
	logging.Disable()
	code := m.Run()
	heraldBin.Remove()
	os.Exit(code)
}

// runBench runs `herald bench args...` in this process (the nodes and workers are
// processes) and returns its results.
func runBench(t *testing.T, args ...string) *Results {
	t.Helper()
	bin := heraldBin.Path(t)
	out := t.TempDir()
	args = append(args, "--out", out, "--herald-bin", bin)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := Main(ctx, args, nil, &stdout, &stderr)
	res, rerr := ReadResults(filepath.Join(out, "results.json"))
	if err != nil || rerr != nil {
		t.Fatalf("herald bench %s: %v / %v\nstdout:\n%s\nstderr:\n%s\n%s", strings.Join(args, " "), err, rerr, stdout.String(), stderr.String(), logs(out))
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("BENCH_TEST_VERBOSE") != "" {
			t.Logf("stdout:\n%s\nstderr:\n%s\n%s", stdout.String(), stderr.String(), logs(out))
		}
	})
	return res
}

// logs returns the tail of every log the run wrote.
func logs(dir string) string {
	var b strings.Builder
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && strings.HasSuffix(p, ".log") {
			fmt.Fprintf(&b, "--- %s\n%s\n", p, tailFile(p, 0, 30))
		}
		return nil
	})
	return b.String()
}

func scenario(t *testing.T, r *Results, label string) *ScenarioResult {
	t.Helper()
	for _, s := range r.Scenarios {
		if s.Label == label {
			return s
		}
	}
	var have []string
	for _, s := range r.Scenarios {
		have = append(have, s.Label)
	}
	t.Fatalf("no run %q in the results (have %v)", label, have)
	return nil
}

func fig(t *testing.T, s *ScenarioResult, key string) float64 {
	t.Helper()
	v, ok := s.Figure(key)
	if !ok {
		t.Fatalf("%s: no figure %q (figures: %+v)", s.Label, key, s.Figures)
	}
	return v
}

// checkDelivery asserts that a delivery run delivered everything exactly once.
func checkDelivery(t *testing.T, s *ScenarioResult) {
	t.Helper()
	if s.Status != statusOK {
		t.Fatalf("%s: status %s: %s (notes %v)", s.Label, s.Status, s.Error, s.Notes)
	}
	pub := fig(t, s, "published")
	if pub <= 0 {
		t.Fatalf("%s: nothing published", s.Label)
	}
	if lost := fig(t, s, "lost"); lost != 0 {
		t.Errorf("%s: lost %v of %v (notes %v)", s.Label, lost, pub, s.Notes)
	}
	if dup := fig(t, s, "duplicated"); dup != 0 && s.Name != "failover" {
		t.Errorf("%s: %v duplicates", s.Label, dup)
	}
	if _, ok := s.Figure("misrouted"); ok {
		t.Errorf("%s: pushes reached the wrong user", s.Label)
	}
	if s.Latency == nil || s.Latency.Count == 0 || s.Latency.P99 <= 0 {
		t.Errorf("%s: no latency recorded: %+v", s.Label, s.Latency)
	}
	if len(s.Timeline) == 0 {
		t.Errorf("%s: no timeline", s.Label)
	}
}

func TestBaselineUnicastReportAndPlan(t *testing.T) {
	r := runBench(t, "baseline,unicast", "--clients", "20", "--rate", "400,0", "--duration", "1s", "--window", "500")
	for _, l := range []string{"baseline@400/s", "baseline@max", "unicast@400/s", "unicast@max"} {
		checkDelivery(t, scenario(t, r, l))
	}
	u := scenario(t, r, "unicast@max")
	if ratio := fig(t, u, "ratio_to_baseline"); ratio <= 0 {
		t.Errorf("ratio to baseline %v", ratio)
	}
	if got := fig(t, scenario(t, r, "unicast@400/s"), "publish_rate"); got < 250 || got > 550 {
		t.Errorf("paced publisher: %v msgs/s, want about 400", got)
	}
	if u.Redis == nil || u.Redis.PerRecipientBytes <= 0 {
		t.Errorf("no Redis memory figures: %+v", u.Redis)
	}
	for _, k := range []string{"node_routed_within_25ms_pct", "node_written_within_25ms_pct", "node_written_p99_bound_ms"} {
		if v := fig(t, u, k); v <= 0 {
			t.Errorf("%s = %v", k, v)
		}
	}
	if r.Machine.Cores == 0 || r.Machine.RedisVersion == "" || r.Machine.GoVersion == "" {
		t.Errorf("machine description incomplete: %+v", r.Machine)
	}
	if len(u.Targets) == 0 {
		t.Errorf("no target checks on %s", u.Label)
	}
	// report.html has the charts as embedded images.
	out := r.Config.Out
	html, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(html), "data:image/png;base64,"); n < 4 {
		t.Errorf("report.html has %d images, want a latency distribution per run at least", n)
	}
	// plan reads the results.
	var b bytes.Buffer
	if err := Main(context.Background(), []string{"plan", "--from", filepath.Join(out, "results.json"),
		"--users", "1000000", "--rate", "20000", "--p99", "100ms"}, nil, &b, &b); err != nil {
		t.Fatalf("plan: %v\n%s", err, b.String())
	}
	for _, want := range []string{"herald nodes:", "binding:", "redis:"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan output lacks %q:\n%s", want, b.String())
		}
	}
}

func TestConnectIdleOverWorkerProcesses(t *testing.T) {
	r := runBench(t, "connect,idle,baseline-idle", "--clients", "40", "--workers", "2", "--hold", "1s", "--no-report")
	c := scenario(t, r, "connect")
	if c.Status != statusOK || fig(t, c, "sessions") != 40 || fig(t, c, "sessions_per_s") <= 0 || c.Handshake == nil {
		t.Errorf("connect: %s %s %+v", c.Status, c.Error, c.Figures)
	}
	if c.Params.Workers != 2 {
		t.Errorf("connect ran its clients in %d processes, want 2", c.Params.Workers)
	}
	for _, l := range []string{"idle", "baseline-idle"} {
		s := scenario(t, r, l)
		if s.Status != statusOK {
			t.Fatalf("%s: %s %s", l, s.Status, s.Error)
		}
		if fig(t, s, "connections") != 40 || fig(t, s, "reconnects") != 0 {
			t.Errorf("%s: %+v", l, s.Figures)
		}
		if g := fig(t, s, "goroutines_per_conn"); g < 0.5 || g > 10 {
			t.Errorf("%s: %v goroutines per connection", l, g)
		}
		if len(s.Nodes) == 0 || s.Nodes[0].RSSBytes <= 0 {
			t.Errorf("%s: no server memory: %+v", l, s.Nodes)
		}
	}
	if _, ok := scenario(t, r, "idle").Figure("rss_vs_baseline"); !ok {
		t.Errorf("idle was not compared with baseline-idle")
	}
}

func TestFailoverLosesNothing(t *testing.T) {
	r := runBench(t, "failover", "--clients", "30", "--rate", "300", "--duration", "3s", "--kill-after", "1s",
		"--node-flag=--streams.lease_ttl=1s", "--node-flag=--streams.claim_idle=2s", "--drain", "30s", "--no-report")
	s := scenario(t, r, "failover@300/s")
	checkDelivery(t, s)
	on := fig(t, s, "clients_on_killed_node")
	if on == 0 || fig(t, s, "reconnected") < on {
		t.Errorf("%v clients on the killed node, %v reconnected", on, fig(t, s, "reconnected"))
	}
	if fig(t, s, "down_at_end") != 0 {
		t.Errorf("%v clients still down", fig(t, s, "down_at_end"))
	}
	if back := fig(t, s, "back_s"); back <= 0 || back > 10 {
		t.Errorf("clients back after %v s", back)
	}
	killed := 0
	for _, n := range s.Nodes {
		if n.Killed {
			killed++
		}
	}
	if killed != 1 || s.Reconnect == nil {
		t.Errorf("killed nodes %d, reconnect latency %+v", killed, s.Reconnect)
	}
}

func TestClusterAndBroadcast(t *testing.T) {
	r := runBench(t, "cluster,baseline-broadcast,broadcast", "--clients", "30", "--rate", "300", "--duration", "1s", "--no-report")
	cu := scenario(t, r, "cluster-unicast@300/s")
	checkDelivery(t, cu)
	if cu.Params.Nodes != 3 || len(cu.Nodes) != 3 {
		t.Errorf("cluster ran %d nodes", cu.Params.Nodes)
	}
	checkDelivery(t, scenario(t, r, "baseline-broadcast@max"))
	for _, l := range []string{"cluster-broadcast@max", "broadcast@max"} {
		s := scenario(t, r, l)
		switch s.Status {
		case statusNotSupported: // a node without topics
			if !strings.Contains(s.Error, "not supported by this node") {
				t.Errorf("%s: %s", l, s.Error)
			}
		default:
			checkDelivery(t, s)
			if fig(t, s, "expected") != fig(t, s, "published")*30 {
				t.Errorf("%s: expected %v deliveries for %v messages to 30 subscribers", l, fig(t, s, "expected"), fig(t, s, "published"))
			}
		}
	}
}

// TestExistingNodes runs against a redis-server and a node the bench did not start.
func TestExistingNodes(t *testing.T) {
	bin := heraldBin.Path(t)
	srv := redistest.Start(t, redistest.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const secret = "bench-test-secret-0123456789"
	var log bytes.Buffer
	cmd := exec.Command(bin, "serve", "--redis.addr", srv.Addr, "--server.addr", addr, "--auth.hmac_secret", secret, "--log.level", "warn")
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node not ready: %v\n%s", err, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := runBench(t, "unicast", "--target", addr, "--redis", srv.Addr, "--secret", secret,
		"--clients", "10", "--rate", "200", "--duration", "1s", "--no-report")
	s := scenario(t, r, "unicast@200/s")
	checkDelivery(t, s)
	if !s.Params.External || s.Nodes[0].RSSSource != "process_resident_memory_bytes" {
		t.Errorf("external run: %+v %+v", s.Params, s.Nodes)
	}
}
