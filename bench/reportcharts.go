package bench

import (
	"bytes"
	"errors"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// The charts of report.html, drawn with gonum/plot as PNG images.

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
		out = append(out, timelineCharts(s)...)
	}
	return out
}

// timelineCharts are a run's per-second charts: throughput and latency (not for
// idle runs), connections, the servers' memory, and CPU.
func timelineCharts(s *ScenarioResult) []chart {
	var out []chart
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
// errNoSpectrum is the chart of a results file whose latencies carry no
// distribution (written before the bench recorded one, or a run without a
// measured push): noted in the report instead of a chart.
var errNoSpectrum = errors.New("no latency distribution in these results")

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
	drawn := 0
	for i, s := range ss {
		if s.l == nil {
			continue
		}
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
		drawn++
	}
	if drawn == 0 { // a log axis with no point in range panics in gonum/plot
		return chart{title: title, err: errNoSpectrum}
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
