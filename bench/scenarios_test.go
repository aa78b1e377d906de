package bench

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestDeliveryLabels(t *testing.T) {
	for _, tc := range []struct {
		o    deliveryOpts
		want string
	}{
		{deliveryOpts{name: "unicast"}, "unicast@max"},
		{deliveryOpts{name: "unicast", rate: 20000}, "unicast@20000/s"},
		{deliveryOpts{name: "baseline", rate: 2500.5}, "baseline@2500.5/s"},
		{deliveryOpts{name: "cluster", mode: modeUnicast, rate: 300}, "cluster-unicast@300/s"},
		{deliveryOpts{name: "cluster", mode: modeBroadcast}, "cluster-broadcast@max"},
		{deliveryOpts{name: "failover", rate: -1}, "failover@max"},
	} {
		if got := tc.o.label(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.o, got, tc.want)
		}
	}
	if fanoutOf(modeBroadcast, 30) != 30 || fanoutOf(modeUnicast, 30) != 1 {
		t.Error("fanout")
	}
}

// Herald runs start one node per 19,500 clients; the baseline is one process.
func TestSizeDelivery(t *testing.T) {
	r := &runner{cfg: &Config{Clients: 40000}}
	o := deliveryOpts{kind: kindHerald, nodes: 1}
	sr := &ScenarioResult{}
	if err := r.sizeDelivery(&o, sr); err != nil || o.nodes != 3 || sr.Params.Nodes != 3 ||
		!reflect.DeepEqual(sr.Notes, []string{"3 nodes: one node holds at most 19500 connections under the 20,000 open-file limit"}) {
		t.Errorf("40,000 clients: %v, %d nodes, %q", err, o.nodes, sr.Notes)
	}
	o = deliveryOpts{kind: kindHerald, nodes: 3}
	if err := r.sizeDelivery(&o, &ScenarioResult{}); err != nil || o.nodes != 3 {
		t.Errorf("enough nodes: %v %d", err, o.nodes)
	}
	r.cfg.Target = []string{"a:1"}
	o = deliveryOpts{kind: kindHerald, nodes: 1}
	if err := r.sizeDelivery(&o, &ScenarioResult{}); err != nil || o.nodes != 1 {
		t.Errorf("given nodes are not added to: %v %d", err, o.nodes)
	}
	o = deliveryOpts{kind: kindBaseline, nodes: 1}
	if err := r.sizeDelivery(&o, &ScenarioResult{}); err == nil || !strings.Contains(err.Error(), "at most 19500 clients") {
		t.Errorf("baseline over the limit: %v", err)
	}
}

func TestRunnerNodes(t *testing.T) {
	r := &runner{cfg: &Config{}}
	if r.nodes(3) != 3 {
		t.Error("default")
	}
	r.cfg.Nodes = 5
	if r.nodes(3) != 5 {
		t.Error("--nodes")
	}
	r.cfg.Target = []string{"a", "b"}
	if r.nodes(3) != 2 {
		t.Error("--target counts")
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{"unicast@20000/s": "unicast_20000_s", "a-b_c.d": "a-b_c.d", "x y/z": "x_y_z", "ünï": "__n__" /* per byte */} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewResultAndFinish(t *testing.T) {
	var log bytes.Buffer
	r := &runner{cfg: &Config{}, log: &log}
	sr := r.newResult("unicast", "unicast@max", Params{Clients: 3})
	if sr.Status != statusOK || sr.Started.IsZero() || sr.Params.Clients != 3 || !strings.HasPrefix(log.String(), "\n-- unicast@max (load ") {
		t.Errorf("newResult %+v, log %q", sr, log.String())
	}
	r.finish(sr, nil)
	if sr.Status != statusOK || sr.Finished.IsZero() {
		t.Errorf("finish without error: %+v", sr)
	}
	r.finish(sr, errNotSupported)
	if sr.Status != statusFailed || sr.Error != "not supported by this node" {
		t.Errorf("finish with an error: %s %q", sr.Status, sr.Error)
	}
	ns := &ScenarioResult{Status: statusNotSupported, Error: "why"}
	r.finish(ns, errNotSupported)
	if ns.Status != statusNotSupported || ns.Error != "why" {
		t.Errorf("not_supported was overwritten: %+v", ns)
	}
}

// logf keeps lines whole when goroutines log at once.
func TestLogfLines(t *testing.T) {
	var log bytes.Buffer
	r := &runner{log: &log}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); r.logf("line %02d %s", i, strings.Repeat("x", 100)) }(i)
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
	if len(lines) != 20 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		if len(l) != 108 || !strings.HasPrefix(l, "line ") {
			t.Errorf("torn line %q", l)
		}
	}
}

// A run whose scenarios fail before starting anything: the runner still prints
// and saves them, and says how many failed.
func TestRunnerSavesFailedRuns(t *testing.T) {
	dir := t.TempDir()
	var out, log bytes.Buffer
	err := Main(context.Background(), []string{"unicast,baseline,baseline-idle", "--rate", "100,0", "--target", "127.0.0.1:1",
		"--clients", "20000", "--out", dir, "--herald-bin", "/bin/true"}, nil, &out, &log)
	if err == nil || err.Error() != "5 scenario run(s) failed" {
		t.Fatalf("Main = %v\n%s", err, log.String())
	}
	res, rerr := ReadResults(filepath.Join(dir, "results.json"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	var got []string
	for _, s := range res.Scenarios {
		got = append(got, s.Label+": "+s.Status+": "+s.Error)
	}
	want := []string{
		"unicast@100/s: failed: --target needs --redis: the bench publishes by XADD to the nodes' Redis",
		"unicast@max: failed: --target needs --redis: the bench publishes by XADD to the nodes' Redis",
		"baseline@100/s: failed: the baseline server is one process: at most 19500 clients under the open-file limit",
		"baseline@max: failed: the baseline server is one process: at most 19500 clients under the open-file limit",
		"baseline-idle: failed: the baseline server is one process: at most 19500 connections under the open-file limit",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("runs:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if res.Tool != "herald bench" || res.Schema != 1 || res.Command[2] != "unicast,baseline,baseline-idle" || res.Finished.Before(res.Started) ||
		res.Machine.HeraldBinary != "/bin/true" || res.Config.Out != dir {
		t.Errorf("results %+v", res)
	}
	for _, want := range []string{"== unicast@100/s: failed (--target needs --redis", "== summary", "results: " + dir + "/results.json", "report:  " + dir + "/report.html"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(log.String(), "herald bench: [unicast baseline baseline-idle] -> "+dir) {
		t.Errorf("log %q", log.String())
	}
	if _, err := ReadResults(filepath.Join(dir, "results.json")); err != nil {
		t.Error(err)
	}
}

// A cancelled run stops after the scenario it is in, saves, and says so.
func TestRunnerStopsWhenCancelled(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, log bytes.Buffer
	err := Main(ctx, []string{"baseline,baseline-idle", "--clients", "20000", "--rate", "1,2,3", "--out", dir, "--herald-bin", "/bin/true", "--no-report"}, nil, &out, &log)
	if err != context.Canceled {
		t.Fatalf("Main = %v", err)
	}
	res, rerr := ReadResults(filepath.Join(dir, "results.json"))
	if rerr != nil || len(res.Scenarios) != 0 {
		t.Errorf("results %+v %v", res, rerr)
	}
	if strings.Contains(out.String(), "report:") {
		t.Error("--no-report wrote a report")
	}
	if r := (&runner{cfg: &Config{}}); r.runScenario(ctx, 0, "no-such-scenario") != nil {
		t.Error("an unknown scenario ran")
	}
}

// Each scenario records its setting even when it fails before measuring, and
// the failover scenario needs nodes it can kill.
func TestScenarioSettingsOnEarlyFailure(t *testing.T) {
	e := redisEnv(t)
	run := func(args ...string) map[string]*ScenarioResult {
		t.Helper()
		dir := t.TempDir()
		var out bytes.Buffer
		args = append(args, "--target", "127.0.0.1:1,127.0.0.1:2", "--clients", "7", "--concurrency", "5", "--out", dir, "--herald-bin", "/bin/true", "--no-report")
		if err := Main(context.Background(), args, nil, &out, &out); err == nil {
			t.Fatal("the runs succeeded")
		}
		res, err := ReadResults(filepath.Join(dir, "results.json"))
		if err != nil {
			t.Fatal(err)
		}
		byLabel := map[string]*ScenarioResult{}
		for _, s := range res.Scenarios {
			byLabel[s.Label] = s
		}
		return byLabel
	}
	got := run("failover,redis-memory", "--redis", e.redisURL, "--secret", "s", "--rate", "250", "--curve-recipients", "9")
	fo := got["failover@250/s"]
	if fo == nil || fo.Status != statusFailed || fo.Error != "failover needs 2 or more nodes started by the bench (not --target)" ||
		fo.Params != (Params{Server: kindHerald, Mode: modeUnicast, Clients: 7, Nodes: 2, Rate: 250, DurationS: 10, PayloadB: 100, Concurrency: 5, External: true}) {
		t.Errorf("failover %+v", fo)
	}
	if m := got["redis-memory"]; m == nil || m.Params != (Params{Server: "redis", Mode: "memory", Clients: 9, PayloadB: 100, External: true}) {
		t.Errorf("redis-memory %+v", m)
	}
	got = run("connect,idle", "--hold", "3s") // no --redis: they fail before connecting
	if c := got["connect"]; c == nil || c.Params != (Params{Server: kindHerald, Mode: modeIdle, Clients: 7, Nodes: 2, Concurrency: 5, External: true}) {
		t.Errorf("connect %+v", c)
	}
	if i := got["idle"]; i == nil || i.Params != (Params{Server: kindHerald, Mode: modeIdle, Clients: 7, Nodes: 2, HoldS: 3, Concurrency: 5, External: true}) {
		t.Errorf("idle %+v", i)
	}
}

// The failover rate: the first --rate, 1,000 msgs/s when flat out was asked.
func TestFailoverRate(t *testing.T) {
	for rates, want := range map[string]string{"0": "failover@1000/s", "300,20": "failover@300/s"} {
		dir := t.TempDir()
		var out bytes.Buffer
		_ = Main(context.Background(), []string{"failover", "--target", "127.0.0.1:1", "--rate", rates, "--out", dir, "--herald-bin", "/bin/true", "--no-report"}, nil, &out, &out)
		res, err := ReadResults(filepath.Join(dir, "results.json"))
		if err != nil || len(res.Scenarios) != 1 || res.Scenarios[0].Label != want {
			t.Errorf("--rate %s: %+v %v", rates, res, err)
		}
	}
}
