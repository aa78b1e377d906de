package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// What `herald bench` prints to the terminal: each run's table as it ends, then
// the summary and the targets.

// printScenario prints one scenario's figures as a table.
func printScenario(w io.Writer, s *ScenarioResult) {
	fmt.Fprintf(w, "\n== %s: %s", s.Label, s.Status)
	if s.Error != "" {
		fmt.Fprintf(w, " (%s)", s.Error)
	}
	fmt.Fprintf(w, "  [load %.2f -> %.2f]\n", s.LoadAvgStart[0], s.LoadAvgEnd[0])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range s.Figures {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.Label, fmtNum(f.Value), f.Unit)
	}
	if l := s.Latency; l != nil {
		fmt.Fprintf(tw, "  latency p50 / p90 / p99 / p99.9 / max\t%s / %s / %s / %s / %s\tms\n",
			fmtNum(l.P50), fmtNum(l.P90), fmtNum(l.P99), fmtNum(l.P999), fmtNum(l.Max))
	}
	if l := s.Handshake; l != nil {
		fmt.Fprintf(tw, "  handshake p50 / p90 / p99 / p99.9 / max\t%s / %s / %s / %s / %s\tms\n",
			fmtNum(l.P50), fmtNum(l.P90), fmtNum(l.P99), fmtNum(l.P999), fmtNum(l.Max))
	}
	if l := s.Reconnect; l != nil {
		fmt.Fprintf(tw, "  reconnect p50 / p99 / max\t%s / %s / %s\tms\n", fmtNum(l.P50), fmtNum(l.P99), fmtNum(l.Max))
	}
	_ = tw.Flush()
	if s.Curve != nil {
		printCurve(w, s.Curve)
	}
	for _, t := range s.Targets {
		fmt.Fprintf(w, "  target %-6s %s: %s", t.Status, t.Target, t.Value)
		if t.Note != "" {
			fmt.Fprintf(w, " (%s)", t.Note)
		}
		fmt.Fprintln(w)
	}
	for _, n := range s.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

// printSummary prints one line per scenario.
func printSummary(w io.Writer, r *Results) {
	fmt.Fprintln(w, "\n== summary")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tstatus\tclients\tnodes\tmsgs/s\tp50 ms\tp99 ms\tp99.9 ms\tmax ms\tlost\tdup\tvs baseline\t")
	for _, s := range r.Scenarios {
		get := func(k string) string {
			if v, ok := s.Figure(k); ok {
				return fmtNum(v)
			}
			return "-"
		}
		lat := func(f func(*Latency) float64) string {
			if s.Latency == nil {
				return "-"
			}
			return fmtNum(f(s.Latency))
		}
		ratio := "-"
		if v, ok := s.Figure("ratio_to_baseline"); ok {
			ratio = fmt.Sprintf("%.0f%%", v*100)
		}
		rate := get("delivered_per_s")
		if rate == "-" {
			rate = get("sessions_per_s")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", s.Label, s.Status, s.Params.Clients, s.Params.Nodes,
			rate, lat(func(l *Latency) float64 { return l.P50 }), lat(func(l *Latency) float64 { return l.P99 }),
			lat(func(l *Latency) float64 { return l.P999 }), lat(func(l *Latency) float64 { return l.Max }),
			get("lost"), get("duplicated"), ratio)
	}
	_ = tw.Flush()
}

// fmtNum prints a number compactly: integers with thousands separators, others
// with 3 significant digits.
func fmtNum(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return thousands(int64(v))
	}
	a := math.Abs(v)
	switch {
	case a >= 1000:
		return thousands(int64(math.Round(v)))
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// printTargets prints every run's targets, met or missed.
func printTargets(w io.Writer, r *Results) {
	first := true
	for _, s := range r.Scenarios {
		for _, t := range s.Targets {
			if first {
				fmt.Fprintln(w, "\n== targets of the bench suite")
				first = false
			}
			fmt.Fprintf(w, "  %-6s %-24s %s: %s", t.Status, s.Label, t.Target, t.Value)
			if t.Note != "" {
				fmt.Fprintf(w, " (%s)", t.Note)
			}
			fmt.Fprintln(w)
		}
	}
}
