package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/herald-push/herald/config"
)

// docs/CONFIGURATION.md is what `herald config --reference` prints: a key added,
// renamed or re-described in config/keys.go fails here until the page is
// regenerated.
func TestConfigurationDocIsCurrent(t *testing.T) {
	var out, errOut bytes.Buffer
	if c := run(context.Background(), []string{"config", "--reference"}, nil, &out, &errOut); c != 0 {
		t.Fatalf("herald config --reference: exit %d: %s", c, errOut.String())
	}
	committed, err := os.ReadFile("../../docs/CONFIGURATION.md")
	if err != nil {
		t.Fatalf("%v; generate it from the repository's root with:\n  %s", err, config.ReferenceCommand)
	}
	if !bytes.Equal(committed, out.Bytes()) {
		t.Fatalf("docs/CONFIGURATION.md differs from `herald config --reference` (%s); regenerate it from the repository's root with:\n  %s",
			firstDifference(string(committed), out.String()), config.ReferenceCommand)
	}
}

// firstDifference names the first line where got and want part.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d is %q, the command prints %q", i+1, gl, wl)
		}
	}
	return "they differ"
}

// The fuzz targets docs/TESTING.md lists are the ones scripts/test.sh runs.
func TestTestingDocListsTheFuzzTargets(t *testing.T) {
	script, err := os.ReadFile("../../scripts/test.sh")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/TESTING.md")
	if err != nil {
		t.Fatal(err)
	}
	// In the script: ./pkg:FuzzName; in the doc's table: | `FuzzName` | `./pkg` |.
	var run, listed []string
	for _, m := range regexp.MustCompile(`(\./[a-z/]+):(Fuzz\w+)`).FindAllStringSubmatch(string(script), -1) {
		run = append(run, m[2]+" "+m[1])
	}
	for _, m := range regexp.MustCompile("\\| `(Fuzz\\w+)` \\| `(\\./[a-z/]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		listed = append(listed, m[1]+" "+m[2])
	}
	if len(run) == 0 {
		t.Fatal("no fuzz targets found in scripts/test.sh")
	}
	slices.Sort(run)
	slices.Sort(listed)
	if !slices.Equal(run, listed) {
		t.Fatalf("docs/TESTING.md lists the fuzz targets\n  %v\nscripts/test.sh runs\n  %v", listed, run)
	}
}
