package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary YAML files and environment values to the loader: it
// must return a configuration or an error, never panic.
func FuzzLoad(f *testing.F) {
	f.Add("server:\n  addr: \":9090\"\nhistory:\n  size: 10\n", "HERALD_LIMITS__MAX_PENDING_BYTES=2048")
	f.Add("redis: {addr: [1,2]}\n", "HERALD_HISTORY__TTL=abc")
	f.Add(": : :\n\t- x", "HERALD_=1")
	f.Add("topics:\n  subscribe: ['a*', '{user}']\n", "HERALD_TOPICS__SUBSCRIBE=x,,y")
	f.Fuzz(func(t *testing.T, yaml, env string) {
		path := filepath.Join(t.TempDir(), "herald.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _ = Load([]string{"--config", path}, []string{env})
	})
}
