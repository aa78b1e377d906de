package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// The redis-memory scenario's tables and charts, in the terminal and report.html.

// curveEntries lists the entry counts measured, ascending; the full point last.
// Every value has the same entry counts, so the first value's row lists them.
func (c *NodeCurve) curveEntries() []CurvePoint {
	vs := c.Values()
	if len(vs) == 0 {
		return nil
	}
	return c.row(vs[0])
}

// point is value v's point at entries k.
func (c *NodeCurve) point(v int64, k int) (CurvePoint, bool) {
	for _, p := range c.Points {
		if p.NodeMaxBytes == v && p.Entries == k {
			return p, true
		}
	}
	return CurvePoint{}, false
}

// cpuOf is value v's figures for op.
func (c *NodeCurve) cpuOf(v int64, op string) (CurveCPU, bool) {
	for _, x := range c.CPU {
		if x.NodeMaxBytes == v && x.Op == op {
			return x, true
		}
	}
	return CurveCPU{}, false
}

// cpuOps lists the measured ops in the order they ran, with their labels.
func (c *NodeCurve) cpuOps() (ops, labels []string) {
	for _, x := range c.CPU {
		if !strContains(ops, x.Op) {
			ops, labels = append(ops, x.Op), append(labels, x.Label)
		}
	}
	return ops, labels
}

func strContains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func entriesLabel(p CurvePoint) string {
	if p.Full {
		return strconv.Itoa(p.Entries) + " (full)"
	}
	return strconv.Itoa(p.Entries)
}

// printCurve prints the curve and the CPU table to the terminal.
func printCurve(w io.Writer, c *NodeCurve) {
	vs := c.Values()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  Redis bytes per recipient: entries \\ stream-node-max-bytes\t")
	for _, v := range vs {
		fmt.Fprintf(tw, "%d\t", v)
	}
	fmt.Fprintln(tw)
	for _, e := range c.curveEntries() {
		fmt.Fprintf(tw, "  %s\t", entriesLabel(e))
		for _, v := range vs {
			p, _ := c.point(v, e.Entries)
			fmt.Fprintf(tw, "%s\t", fmtNum(math.Round(p.BytesPerRecipient)))
		}
		fmt.Fprintln(tw)
	}
	ops, labels := c.cpuOps()
	for i, op := range ops {
		fmt.Fprintf(tw, "  µs/call, %s\t", labels[i])
		for _, v := range vs {
			x, _ := c.cpuOf(v, op)
			fmt.Fprintf(tw, "%s (%s-%s)\t", fmtNum(x.UsecPerCall), fmtNum(x.MinUsec), fmtNum(x.MaxUsec))
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
}

// writeCurveHTML writes the curve's tables to report.html.
func writeCurveHTML(b *strings.Builder, c *NodeCurve) {
	esc := html.EscapeString
	vs := c.Values()
	head := func(first string) {
		fmt.Fprintf(b, "<table><tr><th>%s</th>", esc(first))
		for _, v := range vs {
			fmt.Fprintf(b, "<th>stream-node-max-bytes %d</th>", v)
		}
		b.WriteString("</tr>")
	}
	head("entries per recipient: Redis bytes per recipient")
	for _, e := range c.curveEntries() {
		fmt.Fprintf(b, "<tr><td>%s</td>", esc(entriesLabel(e)))
		for _, v := range vs {
			p, _ := c.point(v, e.Entries)
			fmt.Fprintf(b, "<td class=n>%s</td>", fmtNum(math.Round(p.BytesPerRecipient)))
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</table>")
	ops, labels := c.cpuOps()
	if len(ops) == 0 {
		return
	}
	head("Redis µs per call, median (min–max): in the command / all Redis CPU")
	for i, op := range ops {
		fmt.Fprintf(b, "<tr><td>%s</td>", esc(labels[i]))
		for _, v := range vs {
			x, _ := c.cpuOf(v, op)
			fmt.Fprintf(b, "<td class=n>%s (%s–%s) / %s</td>", fmtNum(x.UsecPerCall), fmtNum(x.MinUsec), fmtNum(x.MaxUsec), fmtNum(x.CPUPerCall))
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</table>")
	fmt.Fprintf(b, "<p class=note>%s.</p>", esc(c.Method))
}

// curveCharts draws memory per recipient against entries (log scale), one line
// per value, and each command's µs per call against the value.
func curveCharts(c *NodeCurve) []chart {
	var mem []series
	for _, v := range c.Values() {
		var xys plotter.XYs
		for _, p := range c.row(v) {
			xys = append(xys, plotter.XY{X: float64(p.Entries), Y: p.BytesPerRecipient})
		}
		mem = append(mem, series{name: fmt.Sprintf("stream-node-max-bytes %d", v), xys: xys})
	}
	out := []chart{logLogChart("Redis memory per recipient against the entries its history holds", "entries per recipient", "bytes per recipient", mem, nil)}
	ops, labels := c.cpuOps()
	var cpu []series
	var ticks []float64
	for _, v := range c.Values() {
		ticks = append(ticks, float64(v))
	}
	for i, op := range ops {
		var xys plotter.XYs
		for _, v := range c.Values() {
			if x, ok := c.cpuOf(v, op); ok {
				xys = append(xys, plotter.XY{X: float64(v), Y: x.MinUsec})
			}
		}
		cpu = append(cpu, series{name: labels[i], xys: xys})
	}
	if len(cpu) > 0 {
		// The least of the runs: on a shared machine other work only ever adds time.
		out = append(out, logLogChart("Redis µs per call (in the command, least of the runs) against stream-node-max-bytes", "stream-node-max-bytes", "µs per call", cpu, ticks))
	}
	return out
}

// logLogChart is a line chart with both axes in log scale, points marked; xticks,
// when given, label the x axis at those values (log ticks would label none of
// 256..4096). The y axis leaves room above the lines for the legend.
func logLogChart(title, xl, yl string, ss []series, xticks []float64) chart {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xl
	p.Y.Label.Text = yl
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = niceLogTicks{}, niceLogTicks{}
	if len(xticks) > 0 {
		var ts plot.ConstantTicks
		for _, x := range xticks {
			ts = append(ts, plot.Tick{Value: x, Label: fmtNum(x)})
		}
		p.X.Tick.Marker = ts
	}
	lo, hi := math.Inf(1), 0.0
	for _, s := range ss {
		for _, xy := range s.xys {
			lo, hi = math.Min(lo, xy.Y), math.Max(hi, xy.Y)
		}
	}
	if lo > 0 && hi > lo {
		p.Y.Min = lo / 1.5
		p.Y.Max = hi * math.Pow(hi/lo*1.5, 0.1*float64(len(ss)+1))
	}
	for i, s := range ss {
		if len(s.xys) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(s.xys)
		if err != nil {
			return chart{title: title, err: err}
		}
		l.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
		l.Width = vg.Points(1.5)
		pts.Shape = plotutil.Shape(i)
		p.Add(l, pts)
		p.Legend.Add(s.name, l, pts)
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return render(title, p)
}

// niceLogTicks are gonum's log ticks labelled like the tables (1,000,000, not 1e+06).
type niceLogTicks struct{}

func (niceLogTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.LogTicks{Prec: -1}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = fmtNum(ts[i].Value)
		}
	}
	return ts
}
