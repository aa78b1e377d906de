package bench

import (
	"encoding/base64"
	"fmt"
	"html"
	"os"
	"strings"
	"time"
)

// report.html: the run's tables and its charts as embedded PNG images, so that
// the file can be viewed offline and mailed around. The charts are drawn in
// reportcharts.go, the redis-memory scenario's tables in reportcurve.go.

const reportStyle = `<!doctype html><html><head><meta charset="utf-8"><title>herald bench report</title><style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;font-size:90%}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
.met{color:#060;font-weight:bold}.missed{color:#a00;font-weight:bold}.na{color:#666}
img{max-width:100%;border:1px solid #eee;margin:.3em 0}h2{border-top:2px solid #ddd;padding-top:.6em}
code{background:#f6f6f6;padding:0 .2em}.note{color:#555;font-size:90%}
</style></head><body>`

// esc escapes text for HTML.
func esc(s string) string { return html.EscapeString(s) }

// writeReport writes report.html for r.
func writeReport(path string, r *Results) error {
	var b strings.Builder
	b.WriteString(reportStyle)
	writeMachineHTML(&b, r)
	writeSummaryHTML(&b, r)
	writeTargetsHTML(&b, r)
	for _, s := range r.Scenarios {
		writeScenarioHTML(&b, r, s)
	}
	b.WriteString("</body></html>\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// writeMachineHTML is the command line and where it ran.
func writeMachineHTML(b *strings.Builder, r *Results) {
	fmt.Fprintf(b, "<h1>herald bench</h1><p><code>%s</code></p>", esc(strings.Join(r.Command, " ")))
	m := r.Machine
	fmt.Fprintf(b, `<table><tr><th>started</th><td>%s</td></tr><tr><th>machine</th><td>%s, %d cores, %.1f GiB RAM, kernel %s, %s</td></tr>
<tr><th>versions</th><td>%s, redis-server %s, herald %s</td></tr><tr><th>open files per process</th><td>%d</td></tr>
<tr><th>load average at start</th><td>%.2f %.2f %.2f</td></tr></table>`,
		r.Started.Format(time.RFC3339), esc(m.CPUModel), m.Cores, float64(m.RAMBytes)/(1<<30), esc(m.Kernel), esc(m.OS),
		esc(m.GoVersion), esc(m.RedisVersion), esc(shortCommit(m.HeraldCommit, m.HeraldModified)), m.FDLimit,
		m.LoadAvg[0], m.LoadAvg[1], m.LoadAvg[2])
}

// writeSummaryHTML is one row per run, linked to its section.
func writeSummaryHTML(b *strings.Builder, r *Results) {
	b.WriteString("<h2>Summary</h2><table><tr><th>run</th><th>status</th><th>clients</th><th>nodes</th><th>msgs/s</th><th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>lost</th><th>dup</th><th>vs baseline</th><th>load</th></tr>")
	for _, s := range r.Scenarios {
		cell := func(k string) string {
			if v, ok := s.Figure(k); ok {
				return fmtNum(v)
			}
			return "–"
		}
		rate := cell("delivered_per_s")
		if rate == "–" {
			rate = cell("sessions_per_s")
		}
		lat := [4]string{"–", "–", "–", "–"}
		if s.Latency != nil {
			lat = [4]string{fmtNum(s.Latency.P50), fmtNum(s.Latency.P99), fmtNum(s.Latency.P999), fmtNum(s.Latency.Max)}
		}
		ratio := "–"
		if v, ok := s.Figure("ratio_to_baseline"); ok {
			ratio = fmt.Sprintf("%.0f%%", v*100)
		}
		fmt.Fprintf(b, `<tr><td><a href="#%s">%s</a></td><td>%s</td><td class=n>%d</td><td class=n>%d</td><td class=n>%s</td><td class=n>%s</td><td class=n>%s</td><td class=n>%s</td><td class=n>%s</td><td class=n>%s</td><td class=n>%s</td><td class=n>%s</td><td class=n>%.2f→%.2f</td></tr>`,
			anchor(s.Label), esc(s.Label), esc(s.Status), s.Params.Clients, s.Params.Nodes, rate, lat[0], lat[1], lat[2], lat[3],
			cell("lost"), cell("duplicated"), ratio, s.LoadAvgStart[0], s.LoadAvgEnd[0])
	}
	b.WriteString("</table>")
}

// writeTargetsHTML is the targets every run was judged against, when any was.
func writeTargetsHTML(b *strings.Builder, r *Results) {
	var targets strings.Builder
	for _, s := range r.Scenarios {
		for _, t := range s.Targets {
			cls := map[string]string{"met": "met", "missed": "missed"}[t.Status]
			if cls == "" {
				cls = "na"
			}
			fmt.Fprintf(&targets, "<tr><td>%s</td><td>%s</td><td>%s</td><td class=%s>%s</td><td class=note>%s</td></tr>",
				esc(s.Label), esc(t.Target), esc(t.Value), cls, esc(t.Status), esc(t.Note))
		}
	}
	if targets.Len() > 0 {
		b.WriteString("<h2>Targets of the bench suite</h2><table><tr><th>run</th><th>target</th><th>measured</th><th>status</th><th>note</th></tr>")
		b.WriteString(targets.String())
		b.WriteString("</table>")
	}
}

// writeScenarioHTML is one run's section: its setting, figures, servers, Redis,
// notes and charts.
func writeScenarioHTML(b *strings.Builder, r *Results, s *ScenarioResult) {
	fmt.Fprintf(b, `<h2 id="%s">%s</h2><p>%s`, anchor(s.Label), esc(s.Label), esc(s.Status))
	if s.Error != "" {
		fmt.Fprintf(b, ": %s", esc(s.Error))
	}
	writeParamsHTML(b, s)
	writeFiguresHTML(b, s)
	writeNodesHTML(b, s.Nodes)
	writeRedisHTML(b, s.Redis)
	if s.Curve != nil {
		writeCurveHTML(b, s.Curve)
	}
	for _, n := range s.Notes {
		fmt.Fprintf(b, "<p class=note>%s</p>", esc(n))
	}
	var base *ScenarioResult
	if s.Params.Server == kindHerald {
		base = baselineFor(r, s)
	}
	for _, c := range charts(s, base) {
		if c.err != nil {
			fmt.Fprintf(b, "<p class=note>chart %s: %s</p>", esc(c.title), esc(c.err.Error()))
			continue
		}
		fmt.Fprintf(b, `<img alt="%s" src="data:image/png;base64,%s">`, esc(c.title), base64.StdEncoding.EncodeToString(c.png))
	}
}

// writeParamsHTML ends the run's first paragraph with its setting.
func writeParamsHTML(b *strings.Builder, s *ScenarioResult) {
	p := s.Params
	fmt.Fprintf(b, ". Server %s, %d clients in %d process(es) from %d source addresses, %d node(s)", esc(p.Server), p.Clients, p.Workers, p.SourceIPs, p.Nodes)
	if p.Mode == modeUnicast || p.Mode == modeBroadcast {
		if p.Rate > 0 {
			fmt.Fprintf(b, ", %s msgs/s for %.0f s", fmtNum(p.Rate), p.DurationS)
		} else {
			fmt.Fprintf(b, ", flat out (at most %d messages in flight) for %.0f s", p.Window, p.DurationS)
		}
		fmt.Fprintf(b, ", %d-byte payloads", p.PayloadB)
	}
	fmt.Fprintf(b, ". Load average %.2f → %.2f.</p>", s.LoadAvgStart[0], s.LoadAvgEnd[0])
}

// writeFiguresHTML is the run's figures and latency distributions.
func writeFiguresHTML(b *strings.Builder, s *ScenarioResult) {
	b.WriteString("<table>")
	for _, f := range s.Figures {
		fmt.Fprintf(b, "<tr><td>%s</td><td class=n>%s</td><td>%s</td></tr>", esc(f.Label), fmtNum(f.Value), esc(f.Unit))
	}
	for _, l := range []struct {
		name string
		l    *Latency
	}{{"end-to-end latency", s.Latency}, {"handshake (dial to welcome)", s.Handshake}, {"reconnect (disconnect to welcome)", s.Reconnect}} {
		if l.l != nil {
			fmt.Fprintf(b, "<tr><td>%s p50 / p90 / p99 / p99.9 / p99.99 / max (%s samples)</td><td class=n>%s / %s / %s / %s / %s / %s</td><td>ms</td></tr>",
				l.name, fmtNum(float64(l.l.Count)), fmtNum(l.l.P50), fmtNum(l.l.P90), fmtNum(l.l.P99), fmtNum(l.l.P999), fmtNum(l.l.P9999), fmtNum(l.l.Max))
		}
	}
	b.WriteString("</table>")
}

// writeNodesHTML is the servers' memory, goroutines and CPU at the end.
func writeNodesHTML(b *strings.Builder, nodes []NodeStats) {
	if len(nodes) == 0 {
		return
	}
	b.WriteString("<table><tr><th>server</th><th>RSS MB</th><th>heap in use MB</th><th>stacks MB</th><th>goroutines</th><th>sessions</th><th>CPU s</th><th>pushes out</th><th></th></tr>")
	for _, n := range nodes {
		extra := n.MetricsError
		if n.Killed {
			extra = "killed (kill -9)"
			if n.HeldLease {
				extra += ", held the ingress lease"
			}
		}
		fmt.Fprintf(b, "<tr><td>%s</td><td class=n>%.1f</td><td class=n>%.1f</td><td class=n>%.1f</td><td class=n>%.0f</td><td class=n>%.0f</td><td class=n>%.2f</td><td class=n>%s</td><td>%s</td></tr>",
			esc(n.Name), n.RSSBytes/(1<<20), n.HeapInuse/(1<<20), n.StackInuse/(1<<20), n.Goroutines, n.Sessions, n.CPUSeconds, fmtNum(n.PushesOut), esc(extra))
	}
	b.WriteString("</table>")
}

// writeRedisHTML is Redis's ten busiest commands and how its memory was measured.
func writeRedisHTML(b *strings.Builder, rs *RedisStats) {
	if rs == nil {
		return
	}
	if len(rs.Commands) > 0 {
		b.WriteString("<table><tr><th>Redis command (measured phase)</th><th>calls</th><th>µs</th><th>µs/call</th></tr>")
		for i, c := range rs.Commands {
			if i == 10 {
				break
			}
			fmt.Fprintf(b, "<tr><td>%s</td><td class=n>%s</td><td class=n>%s</td><td class=n>%.2f</td></tr>", esc(c.Command), fmtNum(float64(c.Calls)), fmtNum(float64(c.Usec)), c.UsecPerCall)
		}
		b.WriteString("</table>")
	}
	if rs.MemoryMethodComment != "" {
		fmt.Fprintf(b, "<p class=note>Redis %s: %s.</p>", esc(rs.Version), esc(rs.MemoryMethodComment))
	}
}

func anchor(s string) string { return "run-" + sanitize(s) }
