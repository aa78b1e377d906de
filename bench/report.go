package bench

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"image/color"
	"math"
	"os"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// writeReport writes report.html: the run's tables and its charts as embedded PNG
// images, so that the file can be viewed offline and mailed around.
func writeReport(path string, r *Results) error {
	var b strings.Builder
	esc := html.EscapeString
	b.WriteString(`<!doctype html><html><head><meta charset="utf-8"><title>herald bench report</title><style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;font-size:90%}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
.met{color:#060;font-weight:bold}.missed{color:#a00;font-weight:bold}.na{color:#666}
img{max-width:100%;border:1px solid #eee;margin:.3em 0}h2{border-top:2px solid #ddd;padding-top:.6em}
code{background:#f6f6f6;padding:0 .2em}.note{color:#555;font-size:90%}
</style></head><body>`)
	fmt.Fprintf(&b, "<h1>herald bench</h1><p><code>%s</code></p>", esc(strings.Join(r.Command, " ")))
	m := r.Machine
	fmt.Fprintf(&b, `<table><tr><th>started</th><td>%s</td></tr><tr><th>machine</th><td>%s, %d cores, %.1f GiB RAM, kernel %s, %s</td></tr>
<tr><th>versions</th><td>%s, redis-server %s, herald %s</td></tr><tr><th>open files per process</th><td>%d</td></tr>
<tr><th>load average at start</th><td>%.2f %.2f %.2f</td></tr></table>`,
		r.Started.Format(time.RFC3339), esc(m.CPUModel), m.Cores, float64(m.RAMBytes)/(1<<30), esc(m.Kernel), esc(m.OS),
		esc(m.GoVersion), esc(m.RedisVersion), esc(shortCommit(m.HeraldCommit, m.HeraldModified)), m.FDLimit,
		m.LoadAvg[0], m.LoadAvg[1], m.LoadAvg[2])

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
		fmt.Fprintf(&b, `<tr><td><a href="#%s">%s</a></td><td>%s</td><td class=n>%d</td><td class=n>%d</td><td class=n>%s</td><td class=n>%s</td><td class=n>%s</td><td class=n>%s</td><td class=n>%s</td><td class=n>%s</td><td class=n>%s</td><td class=n>%s</td><td class=n>%.2f→%.2f</td></tr>`,
			anchor(s.Label), esc(s.Label), esc(s.Status), s.Params.Clients, s.Params.Nodes, rate, lat[0], lat[1], lat[2], lat[3],
			cell("lost"), cell("duplicated"), ratio, s.LoadAvgStart[0], s.LoadAvgEnd[0])
	}
	b.WriteString("</table>")

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

	for _, s := range r.Scenarios {
		fmt.Fprintf(&b, `<h2 id="%s">%s</h2><p>%s`, anchor(s.Label), esc(s.Label), esc(s.Status))
		if s.Error != "" {
			fmt.Fprintf(&b, ": %s", esc(s.Error))
		}
		p := s.Params
		fmt.Fprintf(&b, ". Server %s, %d clients in %d process(es) from %d source addresses, %d node(s)", esc(p.Server), p.Clients, p.Workers, p.SourceIPs, p.Nodes)
		if p.Mode == modeUnicast || p.Mode == modeBroadcast {
			if p.Rate > 0 {
				fmt.Fprintf(&b, ", %s msgs/s for %.0f s", fmtNum(p.Rate), p.DurationS)
			} else {
				fmt.Fprintf(&b, ", flat out (at most %d messages in flight) for %.0f s", p.Window, p.DurationS)
			}
			fmt.Fprintf(&b, ", %d-byte payloads", p.PayloadB)
		}
		fmt.Fprintf(&b, ". Load average %.2f → %.2f.</p>", s.LoadAvgStart[0], s.LoadAvgEnd[0])
		b.WriteString("<table>")
		for _, f := range s.Figures {
			fmt.Fprintf(&b, "<tr><td>%s</td><td class=n>%s</td><td>%s</td></tr>", esc(f.Label), fmtNum(f.Value), esc(f.Unit))
		}
		for _, l := range []struct {
			name string
			l    *Latency
		}{{"end-to-end latency", s.Latency}, {"handshake (dial to welcome)", s.Handshake}, {"reconnect (disconnect to welcome)", s.Reconnect}} {
			if l.l != nil {
				fmt.Fprintf(&b, "<tr><td>%s p50 / p90 / p99 / p99.9 / p99.99 / max (%s samples)</td><td class=n>%s / %s / %s / %s / %s / %s</td><td>ms</td></tr>",
					l.name, fmtNum(float64(l.l.Count)), fmtNum(l.l.P50), fmtNum(l.l.P90), fmtNum(l.l.P99), fmtNum(l.l.P999), fmtNum(l.l.P9999), fmtNum(l.l.Max))
			}
		}
		b.WriteString("</table>")
		if len(s.Nodes) > 0 {
			b.WriteString("<table><tr><th>server</th><th>RSS MB</th><th>heap in use MB</th><th>stacks MB</th><th>goroutines</th><th>sessions</th><th>CPU s</th><th>pushes out</th><th></th></tr>")
			for _, n := range s.Nodes {
				extra := n.MetricsError
				if n.Killed {
					extra = "killed (kill -9)"
					if n.HeldLease {
						extra += ", held the ingress lease"
					}
				}
				fmt.Fprintf(&b, "<tr><td>%s</td><td class=n>%.1f</td><td class=n>%.1f</td><td class=n>%.1f</td><td class=n>%.0f</td><td class=n>%.0f</td><td class=n>%.2f</td><td class=n>%s</td><td>%s</td></tr>",
					esc(n.Name), n.RSSBytes/(1<<20), n.HeapInuse/(1<<20), n.StackInuse/(1<<20), n.Goroutines, n.Sessions, n.CPUSeconds, fmtNum(n.PushesOut), esc(extra))
			}
			b.WriteString("</table>")
		}
		if s.Redis != nil && len(s.Redis.Commands) > 0 {
			b.WriteString("<table><tr><th>Redis command (measured phase)</th><th>calls</th><th>µs</th><th>µs/call</th></tr>")
			for i, c := range s.Redis.Commands {
				if i == 10 {
					break
				}
				fmt.Fprintf(&b, "<tr><td>%s</td><td class=n>%s</td><td class=n>%s</td><td class=n>%.2f</td></tr>", esc(c.Command), fmtNum(float64(c.Calls)), fmtNum(float64(c.Usec)), c.UsecPerCall)
			}
			b.WriteString("</table>")
		}
		if s.Redis != nil && s.Redis.MemoryMethodComment != "" {
			fmt.Fprintf(&b, "<p class=note>Redis %s: %s.</p>", esc(s.Redis.Version), esc(s.Redis.MemoryMethodComment))
		}
		if s.Curve != nil {
			writeCurveHTML(&b, s.Curve)
		}
		for _, n := range s.Notes {
			fmt.Fprintf(&b, "<p class=note>%s</p>", esc(n))
		}
		var base *ScenarioResult
		if s.Params.Server == kindHerald {
			base = baselineFor(r, s)
		}
		for _, c := range charts(s, base) {
			if c.err != nil {
				fmt.Fprintf(&b, "<p class=note>chart %s: %s</p>", esc(c.title), esc(c.err.Error()))
				continue
			}
			fmt.Fprintf(&b, `<img alt="%s" src="data:image/png;base64,%s">`, esc(c.title), base64.StdEncoding.EncodeToString(c.png))
		}
	}
	b.WriteString("</body></html>\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func anchor(s string) string { return "run-" + sanitize(s) }

type chart struct {
	title string
	png   []byte
	err   error
}

// charts draws a run's charts: latency distribution, throughput and latency over
// time, connections and memory over time.
func charts(s *ScenarioResult, base *ScenarioResult) []chart {
	var out []chart
	if s.Curve != nil {
		out = append(out, curveCharts(s.Curve)...)
	}
	if s.Latency != nil {
		series := []spectrum{{s.Label, s.Latency}}
		if base != nil && base.Latency != nil {
			series = append(series, spectrum{base.Label + " (baseline)", base.Latency})
		}
		out = append(out, spectrumChart(s.Label+": end-to-end latency distribution", series))
	}
	if s.Handshake != nil {
		out = append(out, spectrumChart(s.Label+": handshake latency distribution (dial to welcome)", []spectrum{{s.Label, s.Handshake}}))
	}
	if s.Reconnect != nil {
		out = append(out, spectrumChart(s.Label+": reconnect time distribution", []spectrum{{s.Label, s.Reconnect}}))
	}
	if len(s.Timeline) > 1 {
		var pub, del, p50, p99, conns, rss, cpu, rcpu, ccpu plotter.XYs
		for i, t := range s.Timeline {
			if i > 0 { // the first sample has no previous CPU reading
				cpu = append(cpu, plotter.XY{X: t.T, Y: t.NodeCPUPct})
				rcpu = append(rcpu, plotter.XY{X: t.T, Y: t.RedisCPUPct})
				ccpu = append(ccpu, plotter.XY{X: t.T, Y: t.ClientCPUPct})
			}
			pub = append(pub, plotter.XY{X: t.T, Y: t.Published})
			del = append(del, plotter.XY{X: t.T, Y: t.Delivered})
			if t.P99 > 0 {
				p50 = append(p50, plotter.XY{X: t.T, Y: t.P50})
				p99 = append(p99, plotter.XY{X: t.T, Y: t.P99})
			}
			conns = append(conns, plotter.XY{X: t.T, Y: float64(t.Connected)})
			rss = append(rss, plotter.XY{X: t.T, Y: t.NodeRSSMB})
		}
		if s.Params.Mode != modeIdle {
			out = append(out, lineChart(s.Label+": throughput over time", "s", "messages/s", []series{{"published/s", pub}, {"delivered/s", del}}, false))
			if len(p99) > 0 {
				out = append(out, lineChart(s.Label+": latency over time (per second)", "s", "ms", []series{{"p50", p50}, {"p99", p99}}, false))
			}
		}
		out = append(out, lineChart(s.Label+": connections over time", "s", "connections", []series{{"connected", conns}}, false))
		out = append(out, lineChart(s.Label+": server RSS over time", "s", "MB", []series{{"server RSS (sum)", rss}}, false))
		out = append(out, lineChart(s.Label+": CPU over time (100% = one core)", "s", "%", []series{{"server(s)", cpu}, {"redis", rcpu}, {"bench clients", ccpu}}, false))
	}
	return out
}

type spectrum struct {
	name string
	l    *Latency
}

type series struct {
	name string
	xys  plotter.XYs
}

// spectrumChart plots latency against percentile, the x axis stretched so that
// 90, 99, 99.9 and 99.99 are equally spaced.
func spectrumChart(title string, ss []spectrum) chart {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "ms"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.ConstantTicks{
		{Value: 1, Label: "0"}, {Value: 2, Label: "50"}, {Value: 10, Label: "90"}, {Value: 100, Label: "99"},
		{Value: 1000, Label: "99.9"}, {Value: 10000, Label: "99.99"}, {Value: 100000, Label: "99.999"},
	}
	ymin, ymax := math.Inf(1), 0.0
	for i, s := range ss {
		var xys plotter.XYs
		for _, pt := range s.l.Spectrum {
			if pt.Percentile >= 100 {
				continue
			}
			xys = append(xys, plotter.XY{X: 1 / (1 - pt.Percentile/100), Y: pt.Ms})
			ymin, ymax = math.Min(ymin, pt.Ms), math.Max(ymax, pt.Ms)
		}
		if len(xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return chart{title: title, err: err}
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(s.name, l)
	}
	if ymin > 0 && ymax/ymin > 100 {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return render(title, p)
}

func lineChart(title, xl, yl string, ss []series, logY bool) chart {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xl
	p.Y.Label.Text = yl
	p.Y.Min = 0
	p.Y.Tick.Marker = niceTicks{}
	for i, s := range ss {
		if len(s.xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(s.xys)
		if err != nil {
			return chart{title: title, err: err}
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(s.name, l)
	}
	if logY {
		p.Y.Scale = plot.LogScale{}
	} else {
		top := 0.0
		for _, s := range ss {
			for _, xy := range s.xys {
				top = math.Max(top, xy.Y)
			}
		}
		if top > 0 {
			p.Y.Max = top * 1.3 // room for the legend above the lines
		}
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return render(title, p)
}

func render(title string, p *plot.Plot) chart {
	p.BackgroundColor = color.White
	wt, err := p.WriterTo(8*vg.Inch, 3.2*vg.Inch, "png")
	if err != nil {
		return chart{title: title, err: err}
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return chart{title: title, err: err}
	}
	return chart{title: title, png: buf.Bytes()}
}

// niceTicks are gonum's default ticks labelled like the tables (1,000 not 1000.00).
type niceTicks struct{}

func (niceTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = fmtNum(ts[i].Value)
		}
	}
	return ts
}
