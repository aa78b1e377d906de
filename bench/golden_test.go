package bench

import (
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The golden tests render the results kept in results/ (the runs RESULTS.md
// reports) and compare the output with testdata/*.golden: the terminal tables,
// report.html without its images, and `herald bench plan`. A change in any figure,
// heading or rounding shows as a diff. After an intended change of the output:
//
//	go test ./bench/ -run Golden -update

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// checkGolden compares got with testdata/name, or rewrites the file with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n%s", name, firstDiff(string(want), string(got)))
	}
}

// firstDiff shows where got first departs from want: the line, and the text
// around the first differing byte (report.html is mostly one long line).
func firstDiff(want, got string) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	line := strings.Count(want[:i], "\n") + 1
	around := func(s string) string { return s[max(0, i-150):min(len(s), i+150)] }
	return fmt.Sprintf("line %d, byte %d:\n want: ...%s...\n  got: ...%s...", line, i, around(want), around(got))
}

// keptResults lists the results files under results/.
func keptResults(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("results", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no results files: %v", err)
	}
	return files
}

// goldenName is the golden file of a results file and an output kind.
func goldenName(resultsPath, kind string) string {
	return strings.TrimSuffix(filepath.Base(resultsPath), ".json") + "." + kind + ".golden"
}

// terminalOutput is what `herald bench` prints at the end of a run of res: each
// run's table, the summary and the targets, judged again by this code.
func terminalOutput(res *Results) []byte {
	var b bytes.Buffer
	compareToBaseline(res)
	evaluateTargets(res)
	for _, s := range res.Scenarios {
		printScenario(&b, s)
	}
	printSummary(&b, res)
	printTargets(&b, res)
	return b.Bytes()
}

func TestGoldenTerminalOutput(t *testing.T) {
	for _, f := range keptResults(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			res, err := ReadResults(f)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, goldenName(f, "terminal"), terminalOutput(res))
		})
	}
}

var pngData = regexp.MustCompile(`data:image/png;base64,([A-Za-z0-9+/=]+)`)

// reportWithoutImages writes report.html for res and returns it with each
// embedded chart replaced by a placeholder, after checking that it is a PNG.
func reportWithoutImages(t *testing.T, res *Results) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.html")
	if err := writeReport(path, res); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return pngData.ReplaceAllFunc(b, func(m []byte) []byte {
		raw, err := base64.StdEncoding.DecodeString(string(pngData.FindSubmatch(m)[1]))
		if err != nil {
			t.Errorf("chart is not base64: %v", err)
		} else if cfg, err := png.DecodeConfig(bytes.NewReader(raw)); err != nil || cfg.Width < 100 {
			t.Errorf("chart is not a PNG: %v %+v", err, cfg)
		}
		return []byte("data:image/png;base64,PNG")
	})
}

// report.html of the latest idle, connect and redis-memory runs. Drawing the
// charts of a delivery run takes seconds under the race detector, so the
// delivery runs' report is checked on the fixture (TestFixtureReport), and every
// kept file's figures by the terminal golden files.
func TestGoldenReportHTML(t *testing.T) {
	for _, f := range keptResults(t) {
		if !strings.Contains(f, "round4-2026") && !strings.Contains(f, "redis-memory") || strings.Contains(f, "run2") ||
			strings.Contains(f, "broadcast") || strings.Contains(f, "unicast") {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			res, err := ReadResults(f)
			if err != nil {
				t.Fatal(err)
			}
			compareToBaseline(res)
			evaluateTargets(res)
			checkGolden(t, goldenName(f, "report"), reportWithoutImages(t, res))
		})
	}
}

// The plans RESULTS.md and the README quote, from the kept results.
func TestGoldenPlans(t *testing.T) {
	from := func(names ...string) string {
		var ps []string
		for _, n := range names {
			ps = append(ps, filepath.Join("results", n+".json"))
		}
		return strings.Join(ps, ",")
	}
	round4 := from("unicast-round4-2026-12-02", "idle-10k-round4-2026-12-02")
	curve := from("unicast-round4-2026-12-02", "idle-10k-round4-2026-12-02", "redis-memory-2026-12-05")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"plan-readme", []string{"--from", curve, "--users", "1000000", "--rate", "20000", "--p99", "100ms"}},
		{"plan-ten-a-day-linear", []string{"--from", round4, "--users", "1000000", "--rate", "116", "--p99", "100ms"}},
		{"plan-ten-a-day-curve", []string{"--from", curve, "--users", "1000000", "--rate", "116", "--p99", "100ms"}},
		{"plan-1024", []string{"--from", curve, "--users", "1000000", "--rate", "116", "--stream-node-max-bytes", "1024",
			"--compare-ttl", "1h", "--compare-size", "50"}},
		{"plan-tight-p99", []string{"--from", round4, "--users", "200000", "--rate", "50000", "--p99", "5ms", "--headroom", "0.5",
			"--node-ram-gib", "2", "--redis-ram-gib", "1"}},
		{"plan-json", []string{"--from", curve, "--users", "1000000", "--rate", "20000", "--json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := runPlan(tc.args, &b); err != nil {
				t.Fatalf("plan %v: %v", tc.args, err)
			}
			checkGolden(t, tc.name+".golden", b.Bytes())
		})
	}
}

// The fixture has every part of the schema filled: its terminal output is kept
// too (its report in TestFixtureReport).
func TestGoldenFixtureTerminal(t *testing.T) {
	checkGolden(t, "fixture.terminal.golden", terminalOutput(fixtureResults()))
}
