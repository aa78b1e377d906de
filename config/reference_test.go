package config

import (
	"regexp"
	"strings"
	"testing"
)

// The reference lists every key once, with its environment variable, flag and
// help, and leaves no placeholder behind.
func TestReferenceListsEveryKey(t *testing.T) {
	var b strings.Builder
	if err := Reference(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if strings.Contains(page, "{{") {
		t.Fatalf("a placeholder is left in the page:\n%s", page)
	}
	for _, k := range Keys() {
		row := "| `" + k.Name + "` |"
		if n := strings.Count(page, row); n != 1 {
			t.Errorf("key %s: %d table rows, want 1", k.Name, n)
			continue
		}
		line := page[strings.Index(page, row):]
		line = line[:strings.IndexByte(line, '\n')]
		for _, want := range []string{"`" + k.Env + "`", "`" + k.Flag + "`", referenceHelp(k.Help)} {
			if !strings.Contains(line, want) {
				t.Errorf("key %s: row %q lacks %q", k.Name, line, want)
			}
		}
		if k.Secret != strings.Contains(line, ", secret |") {
			t.Errorf("key %s: row %q, secret %v", k.Name, line, k.Secret)
		}
	}
	if !strings.Contains(page, ReferenceCommand) {
		t.Error("the page does not say how to regenerate it")
	}
}

// The prose around the table names only keys that exist: a renamed key shows up
// here rather than as a stale sentence.
func TestReferenceProseNamesExistingKeys(t *testing.T) {
	code := regexp.MustCompile("`([a-z]+(?:\\.[a-z_]+)+)`")
	for _, m := range code.FindAllStringSubmatch(referenceText, -1) {
		name := m[1]
		section, _, _ := strings.Cut(name, ".")
		if !isSection(section) {
			continue // not a key, e.g. a file name
		}
		if _, ok := lookupKey(name); !ok {
			t.Errorf("config/reference.md names %s, which is not a key", name)
		}
	}
}
