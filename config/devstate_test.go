package config

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// A new dev state holds an API key for POST /v1/publish; a file from before the
// key existed gets one from WithAPIKey, which keeps a key it has.
func TestDevStateAPIKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev.json")
	s, err := LoadOrCreateDevState(path)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{48}$`).MatchString(s.APIKey) || s.APIKey == s.Secret {
		t.Fatalf("api key %q is not 24 random bytes in hex of its own", s.APIKey)
	}
	if again, err := s.WithAPIKey(); err != nil || again != s {
		t.Fatalf("WithAPIKey changed a state that had a key: %+v, %v", again, err)
	}

	old := filepath.Join(t.TempDir(), "old.json")
	if err := os.WriteFile(old, []byte(`{"secret":"abc"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = LoadOrCreateDevState(old)
	if err != nil || s.APIKey != "" {
		t.Fatalf("old file read as %+v, %v", s, err)
	}
	if s, err = s.WithAPIKey(); err != nil || len(s.APIKey) != 48 || s.Secret != "abc" {
		t.Fatalf("WithAPIKey on an old state: %+v, %v", s, err)
	}
}
