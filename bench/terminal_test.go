package bench

import (
	"bytes"
	"strings"
	"testing"
)

func TestFmtNum(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 1234567: "1,234,567", -1000: "-1,000", 0.1234: "0.123", 12.34: "12.3", 1234.5: "1,235", 5.5: "5.50",
		999: "999", 100.4: "100", -2.5: "-2.50", 0.0005: "0.001", 1e15: "1,000,000,000,000,000", -0.25: "-0.250",
	} {
		if got := fmtNum(v); got != want {
			t.Errorf("fmtNum(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 100000: "100,000", 1234567: "1,234,567", -999: "-999", -1234567: "-1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// A run's table has its status, load, figures, latencies, targets and notes.
func TestPrintScenario(t *testing.T) {
	s := fixtureFailover()
	s.Status, s.Error = statusFailed, "1 of 30 clients did not connect"
	s.Handshake = &Latency{P50: 1, P90: 2, P99: 3, P999: 4, Max: 5}
	s.target("failover: 0 lost", "lost 0", "met", "at 30 connections")
	s.target("other", "x", "missed", "")
	var b bytes.Buffer
	printScenario(&b, s)
	out := b.String()
	for _, want := range []string{
		"\n== failover@2000/s: failed (1 of 30 clients did not connect)  [load 2.00 -> 2.50]\n",
		"  messages published ", " 40,000 ", " msgs\n",
		"  kill to the last client's welcome on a live node ", " 1.18 ",
		"  latency p50 / p90 / p99 / p99.9 / max ", "7.50 / 15 / 30 / 60 / 120",
		"  handshake p50 / p90 / p99 / p99.9 / max ", "1 / 2 / 3 / 4 / 5",
		"  reconnect p50 / p99 / max ", "400 / 1,100 / 1,180",
		"  target met    failover: 0 lost: lost 0 (at 30 connections)\n",
		"  target missed other: x\n",
		"  note: the killed node held the ingress lease\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("printScenario lacks %q:\n%s", want, out)
		}
	}
	// The columns line up: the figures' values start in the same column.
	cols := map[int]bool{}
	for _, line := range strings.Split(out, "\n") {
		for _, v := range []string{"  40,000 ", "  2,000 ", "  1.18 "} {
			if i := strings.Index(line, v); i > 0 && !strings.HasPrefix(line, "  target") {
				cols[i] = true
			}
		}
	}
	if len(cols) != 1 {
		t.Errorf("figures in columns %v, want one:\n%s", cols, out)
	}
}

func TestPrintSummary(t *testing.T) {
	r := fixtureResults()
	compareToBaseline(r)
	var b bytes.Buffer
	printSummary(&b, r)
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if lines[1] != "== summary" || len(lines) != 2+1+len(r.Scenarios) {
		t.Fatalf("summary:\n%s", b.String())
	}
	row := func(label string) []string {
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 0 && f[0] == label {
				return f
			}
		}
		t.Fatalf("no row %s", label)
		return nil
	}
	if got := strings.Join(row("unicast@max"), " "); got != "unicast@max ok 10000 1 44,000 15 60 120 240 0 0 55%" {
		t.Errorf("unicast row %q", got)
	}
	if got := strings.Join(row("connect"), " "); got != "connect ok 10000 1 5,674 - - - - - - -" {
		t.Errorf("connect row (sessions/s in the rate column) %q", got)
	}
	if got := strings.Join(row("idle"), " "); got != "idle ok 10000 1 - - - - - - - -" {
		t.Errorf("idle row %q", got)
	}
}

func TestPrintTargets(t *testing.T) {
	var b bytes.Buffer
	printTargets(&b, &Results{Scenarios: []*ScenarioResult{{Label: "x"}}})
	if b.Len() != 0 {
		t.Errorf("targets printed without any: %q", b.String())
	}
	r := &Results{Scenarios: []*ScenarioResult{
		{Label: "a", Targets: []TargetCheck{{"t1", "v1", "met", ""}, {"t2", "v2", "missed", "why"}}},
		{Label: "b", Targets: []TargetCheck{{"t3", "v3", "met", ""}}},
	}}
	printTargets(&b, r)
	want := "\n== targets of the bench suite\n" +
		"  met    a                        t1: v1\n" +
		"  missed a                        t2: v2 (why)\n" +
		"  met    b                        t3: v3\n"
	if b.String() != want {
		t.Errorf("targets:\n%q\nwant\n%q", b.String(), want)
	}
}
