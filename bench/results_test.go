package bench

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestFigureAddReplacesAndCleans(t *testing.T) {
	s := &ScenarioResult{}
	s.add("a", "first", 1, "x")
	s.add("b", "second", math.NaN(), "")
	s.add("c", "third", math.Inf(-1), "")
	s.add("a", "first again", 2, "y")
	want := []Figure{{"a", "first again", 2, "y"}, {"b", "second", 0, ""}, {"c", "third", 0, ""}}
	if !reflect.DeepEqual(s.Figures, want) {
		t.Errorf("figures %+v, want %+v (a replaced in place, NaN and Inf as 0)", s.Figures, want)
	}
	if v, ok := s.Figure("a"); !ok || v != 2 {
		t.Errorf("Figure(a) = %v, %v", v, ok)
	}
	if _, ok := s.Figure("nope"); ok {
		t.Error("a missing figure was found")
	}
	s.note("%d nodes: %s", 3, "x")
	s.target("t", "v", "met", "n")
	if s.Notes[0] != "3 nodes: x" || s.Targets[0] != (TargetCheck{"t", "v", "met", "n"}) {
		t.Errorf("notes %q, targets %+v", s.Notes, s.Targets)
	}
}

// results.json is written with the secret left out and reads back as written.
func TestResultsRoundTrip(t *testing.T) {
	r := fixtureResults()
	path := filepath.Join(t.TempDir(), "results.json")
	if err := writeJSON(path, r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "never-written") {
		t.Error("results.json holds the token secret")
	}
	if !strings.HasSuffix(string(b), "}\n") || !strings.HasPrefix(string(b), "{\n  \"tool\"") {
		t.Errorf("results.json is not indented JSON ending in a newline: %.40q", b)
	}
	got, err := ReadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	r.Config.Secret = ""
	if !reflect.DeepEqual(got, r) {
		t.Errorf("read back:\n%+v\nwrote:\n%+v", got, r)
	}
}

// The names in results.json are what RESULTS.md, the plan and later tools read:
// a renamed field breaks them silently. The fixture's JSON is kept as a golden file.
func TestResultsSchemaGolden(t *testing.T) {
	b, err := json.MarshalIndent(fixtureResults(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "results-schema.golden", append(b, '\n'))
}

func TestReadResultsErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadResults(filepath.Join(dir, "none.json")); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"scenarios": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadResults(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad JSON: %v, want the path in the error", err)
	}
	if err := writeJSON(filepath.Join(dir, "no", "dir.json"), fixtureResults()); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

// Every results file kept in results/ still reads, survives a round trip, and
// holds the figures RESULTS.md and the README quote from it.
func TestKeptResultsStillRead(t *testing.T) {
	for _, f := range keptResults(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, err := ReadResults(f)
			if err != nil {
				t.Fatal(err)
			}
			if r.Tool != "herald bench" || r.Schema != 1 || len(r.Scenarios) == 0 || r.Machine.Cores == 0 || len(r.Command) < 3 {
				t.Fatalf("%s: tool %q schema %d, %d runs, machine %+v", f, r.Tool, r.Schema, len(r.Scenarios), r.Machine)
			}
			for _, s := range r.Scenarios {
				if s.Label == "" || s.Status != statusOK || s.Params.Server == "" || len(s.Figures) == 0 {
					t.Errorf("%s: run %+v", f, s)
				}
			}
			path := filepath.Join(t.TempDir(), "again.json")
			if err := writeJSON(path, r); err != nil {
				t.Fatal(err)
			}
			again, err := ReadResults(path)
			if err != nil || !reflect.DeepEqual(again, r) {
				t.Errorf("%s does not survive a round trip: %v", f, err)
			}
		})
	}
}

// The figures the README's table quotes, read from the kept files.
func TestKeptResultsHoldTheQuotedFigures(t *testing.T) {
	for _, tc := range []struct {
		file, label, key string
		want             float64
	}{
		{"unicast-round4-2026-12-02", "unicast@max", "delivered_per_s", 44252},
		{"unicast-round4-2026-12-02", "baseline@max", "delivered_per_s", 74531},
		{"idle-10k-round4-2026-12-02", "idle", "rss_per_conn_bytes", 8037},
		{"connect-round4-2026-12-02", "connect", "sessions_per_s", 5674},
		{"broadcast-round4-2026-12-02", "broadcast@max", "delivered_per_s", 220222},
	} {
		r, err := ReadResults(filepath.Join("results", tc.file+".json"))
		if err != nil {
			t.Fatal(err)
		}
		v, ok := scenario(t, r, tc.label).Figure(tc.key)
		if !ok || math.Round(v) != tc.want {
			t.Errorf("%s %s %s = %v, want %v", tc.file, tc.label, tc.key, v, tc.want)
		}
	}
	r, err := ReadResults(filepath.Join("results", "redis-memory-2026-12-05.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := scenario(t, r, "redis-memory").Curve
	for _, tc := range []struct {
		v    int64
		k    int
		want float64
	}{{4096, 1, 4401}, {1024, 1, 1335}, {1024, 10, 2464}, {256, 1000, 218592}} {
		if p, ok := c.point(tc.v, tc.k); !ok || math.Round(p.BytesPerRecipient) != tc.want {
			t.Errorf("curve at %d, %d entries: %+v, want %v B", tc.v, tc.k, p, tc.want)
		}
	}
}
