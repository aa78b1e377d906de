package bench

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"
)

// TestReportCharts renders every chart of a delivery run with a timeline.
func TestReportCharts(t *testing.T) {
	h := newHist()
	for v := int64(1); v < 5000; v++ {
		_ = h.RecordValue(v * 3)
	}
	s := &ScenarioResult{Name: "unicast", Label: "unicast@max", Status: statusOK, Params: Params{Server: kindHerald, Mode: modeUnicast}, Latency: summarize(h)}
	for i := 0; i < 5; i++ {
		s.Timeline = append(s.Timeline, Sample{T: float64(i), Phase: "measure", Connected: 10, Published: 100, Delivered: 99, P50: 1, P99: 5, NodeRSSMB: 30, NodeCPUPct: 50})
	}
	s.add("delivered_per_s", "throughput", 99, "msgs/s")
	path := filepath.Join(t.TempDir(), "report.html")
	if err := writeReport(path, &Results{Scenarios: []*ScenarioResult{s}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// latency distribution, throughput, latency over time, connections, RSS, CPU
	if n := strings.Count(string(b), "data:image/png;base64,"); n != 6 {
		t.Errorf("%d charts, want 6", n)
	}
	if strings.Contains(string(b), "chart ") {
		t.Errorf("a chart failed to render")
	}
}

func renderReport(t *testing.T, r *Results) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.html")
	if err := writeReport(path, r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// section is the part of the report about one run.
func section(t *testing.T, html, label string) string {
	t.Helper()
	start := strings.Index(html, `<h2 id="`+anchor(label)+`">`)
	if start < 0 {
		t.Fatalf("no section for %s", label)
	}
	end := strings.Index(html[start+1:], "<h2 ")
	if end < 0 {
		return html[start:]
	}
	return html[start : start+1+end]
}

// The fixture's report, drawn once: its golden file, its contents and its charts.
func TestFixtureReport(t *testing.T) {
	r := fixtureResults()
	compareToBaseline(r)
	evaluateTargets(r)
	html := string(reportWithoutImages(t, r))
	t.Run("golden", func(t *testing.T) { checkGolden(t, "fixture.report.golden", []byte(html)) })
	t.Run("contents", func(t *testing.T) { checkReportContents(t, html) })
	t.Run("charts per run", func(t *testing.T) { checkChartsPerRun(t, html) })
}

func checkReportContents(t *testing.T, html string) {
	for _, want := range []string{
		"<title>herald bench report</title>",
		"<code>herald bench baseline,unicast,idle,connect,failover,broadcast,redis-memory --clients 10000</code>",
		"AMD EPYC, 2 cores, 24.0 GiB RAM, kernel 6.1, linux/amd64",
		"go1.26.8, redis-server 7.0.15, herald 0123456789ab+modified",
		"<h2>Summary</h2>",
		`<tr><td><a href="#run-unicast_max">unicast@max</a></td><td>ok</td><td class=n>10000</td><td class=n>1</td><td class=n>44,000</td><td class=n>15</td><td class=n>60</td>`,
		"<td class=n>55%</td><td class=n>2.00→2.50</td>",
		"<h2>Targets of the bench suite</h2>",
		"<td class=met>met</td>", "<td class=missed>missed</td>",
		"&lt;script&gt;alert(1)&lt;/script&gt;",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(html, "<script>") {
		t.Error("a note went into the report unescaped")
	}
	us := section(t, html, "unicast@max")
	for _, want := range []string{
		"ok. Server herald, 10000 clients in 1 process(es) from 16 source addresses, 1 node(s), flat out (at most 2000 messages in flight) for 20 s, 100-byte payloads. Load average 2.00 → 2.50.</p>",
		"<tr><td>throughput while publishing</td><td class=n>44,000</td><td>msgs/s</td></tr>",
		"end-to-end latency p50 / p90 / p99 / p99.9 / p99.99 / max (1,000 samples)</td><td class=n>15 / 30 / 60 / 120 / 180 / 240</td>",
		"<tr><td>node 0</td><td class=n>100.0</td><td class=n>50.0</td><td class=n>20.0</td><td class=n>10050</td><td class=n>10000</td><td class=n>18.00</td><td class=n>880,000</td><td></td></tr>",
		"<tr><td>xadd</td><td class=n>400,000</td><td class=n>900,000</td><td class=n>2.25</td></tr>",
		"<p class=note>Redis 7.0.15: MEMORY USAGE of 200 streams.</p>",
	} {
		if !strings.Contains(us, want) {
			t.Errorf("unicast@max section lacks %q", want)
		}
	}
	if !strings.Contains(us, "<td>cmd7</td>") || strings.Contains(us, "<td>cmd8</td>") {
		t.Error("the commands table does not stop at ten")
	}
	if s := section(t, html, "unicast@2000/s"); !strings.Contains(s, ", 2,000 msgs/s for 20 s, 100-byte payloads") {
		t.Errorf("paced run's setting: %s", s[:300])
	}
	if s := section(t, html, "failover@2000/s"); !strings.Contains(s, "<td>killed (kill -9), held the ingress lease</td>") ||
		!strings.Contains(s, "reconnect (disconnect to welcome) p50") {
		t.Error("failover section lacks the killed node or the reconnect times")
	}
	if s := section(t, html, "broadcast@max"); !strings.Contains(s, "not_supported: not supported by this node: u0: error frame not_supported: topics are off") {
		t.Error("the not_supported run does not say why")
	}
	if s := section(t, html, "redis-memory"); !strings.Contains(s, "<th>stream-node-max-bytes 4096</th><th>stream-node-max-bytes 1024</th>") {
		t.Error("redis-memory section lacks the curve table")
	}
}

// How many charts each kind of run gets.
func checkChartsPerRun(t *testing.T, html string) {
	for label, want := range map[string]int{
		"baseline@max":    6, // latency distribution, throughput, latency over time, connections, RSS, CPU
		"unicast@max":     6, // the same; the distribution has the baseline's line too
		"idle":            3, // connections, RSS, CPU: no throughput for idle runs
		"connect":         1, // handshake distribution; one sample is no timeline
		"failover@2000/s": 7,
		"broadcast@max":   0,
		"redis-memory":    2, // memory against entries, µs against the setting
	} {
		if got := strings.Count(section(t, html, label), "<img "); got != want {
			t.Errorf("%s: %d charts, want %d", label, got, want)
		}
	}
}

// A chart that cannot be drawn is named in the report, and the rest still is.
func TestReportChartError(t *testing.T) {
	s := fixtureDelivery("unicast", "unicast@max", kindHerald, 0, 100, 1)
	s.Timeline[2].Published = math.NaN()
	html := renderReport(t, &Results{Scenarios: []*ScenarioResult{s}})
	if !strings.Contains(html, "<p class=note>chart unicast@max: throughput over time: ") {
		t.Errorf("no note for the failed chart")
	}
	if n := strings.Count(html, "<img "); n != 5 {
		t.Errorf("%d charts, want the other 5", n)
	}
	if err := writeReport(filepath.Join(t.TempDir(), "no", "report.html"), &Results{}); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

func TestChartTicksLikeTheTables(t *testing.T) {
	for _, tk := range (niceTicks{}).Ticks(0, 25000) {
		if tk.Label != "" && tk.Label != fmtNum(tk.Value) {
			t.Errorf("tick %v labelled %q", tk.Value, tk.Label)
		}
	}
	labels := map[string]bool{}
	for _, tk := range (niceLogTicks{}).Ticks(100, 1e6) {
		labels[tk.Label] = true
	}
	if !labels["1,000"] || !labels["1,000,000"] {
		t.Errorf("log tick labels %v", labels)
	}
	if anchor("unicast@20000/s") != "run-unicast_20000_s" {
		t.Errorf("anchor = %q", anchor("unicast@20000/s"))
	}
}

// The charts draw whatever a run has: a wide latency range (log scale), series
// with no point, nothing but zeros.
func TestChartsDraw(t *testing.T) {
	wide := &Latency{Spectrum: []PercentilePoint{{0, 0.01}, {50, 0.1}, {99, 50}, {99.99, 900}, {100, 1000}}}
	empty := &Latency{}
	for _, c := range []chart{
		spectrumChart("wide", []spectrum{{"a", wide}, {"none", empty}}),
		lineChart("gaps", "s", "ms", []series{{"a", plotter.XYs{{X: 0, Y: 1}, {X: 1, Y: 1000}}}, {"empty", nil}}, false),
		lineChart("zeros", "s", "ms", []series{{"a", plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 0}}}}, false),
	} {
		if c.err != nil || len(c.png) < 1000 {
			t.Errorf("%s: %v, %d bytes", c.title, c.err, len(c.png))
		}
	}
	if c := lineChart("bad", "s", "ms", []series{{"a", plotter.XYs{{X: math.Inf(1), Y: 1}}}}, false); c.err == nil {
		t.Error("an infinite point was drawn")
	}
}

// A results file without latency distributions (an older one, or a run with no
// measured push) gets a note in the report, not a panic.
func TestSpectrumChartWithoutAnyPoint(t *testing.T) {
	for _, ss := range [][]spectrum{{{"a", &Latency{}}}, {{"a", nil}}, nil} {
		if c := spectrumChart("none", ss); !errors.Is(c.err, errNoSpectrum) || c.png != nil {
			t.Errorf("%v: %v, %d bytes", ss, c.err, len(c.png))
		}
	}
}
