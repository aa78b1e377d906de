package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func TestDevStatePath(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		suffix  string
	}{
		{"override", []string{"HERALD_DEV_STATE=/tmp/herald-dev.json"}, "/tmp/herald-dev.json"},
		{"default", []string{"HOME=/nowhere"}, filepath.Join("herald", "dev.json")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DevStatePath(tt.environ)
			if err != nil {
				t.Skipf("no user config dir here: %v", err)
			}
			if !strings.HasSuffix(got, tt.suffix) {
				t.Errorf("got %q, want suffix %q", got, tt.suffix)
			}
		})
	}
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

func TestDevState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cfg", "herald")
	path := filepath.Join(dir, "dev.json")
	first, err := LoadOrCreateDevState(path)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(first.Secret) {
		t.Errorf("secret %q is not 32 random bytes in hex", first.Secret)
	}
	if m := fileMode(t, path); m != 0o600 {
		t.Errorf("file mode %o, want 600", m)
	}
	if m := fileMode(t, dir); m != 0o700 {
		t.Errorf("dir mode %o, want 700", m)
	}
	steps := []struct {
		name   string
		before func(t *testing.T)
		want   DevState
	}{
		{"reused", func(*testing.T) {}, first},
		{"mode narrowed", func(t *testing.T) {
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}, first},
		{"saved fields kept", func(t *testing.T) {
			s := first
			s.RedisAddr, s.HTTPAddr = "127.0.0.1:7001", "127.0.0.1:8080"
			if err := SaveDevState(path, s); err != nil {
				t.Fatal(err)
			}
		}, DevState{Secret: first.Secret, APIKey: first.APIKey, RedisAddr: "127.0.0.1:7001", HTTPAddr: "127.0.0.1:8080"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.before(t)
			got, err := LoadOrCreateDevState(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != st.want {
				t.Errorf("got %+v, want %+v", got, st.want)
			}
			if m := fileMode(t, path); m != 0o600 {
				t.Errorf("file mode %o, want 600", m)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
}

func TestDevStateBroken(t *testing.T) {
	tests := []struct{ name, body string }{
		{"not json", "{"},
		{"no secret", `{"redis_addr":"x"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dev.json")
			if err := os.WriteFile(path, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadOrCreateDevState(path); err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want one naming the file", err)
			}
		})
	}
}

// Processes started together (serve and token) must agree on one secret.
func TestDevStateConcurrentCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev.json")
	const n = 8
	secrets := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := LoadOrCreateDevState(path)
			if err != nil {
				t.Error(err)
			}
			secrets[i] = s.Secret
		})
	}
	wg.Wait()
	for _, s := range secrets {
		if s != secrets[0] {
			t.Fatalf("secrets differ: %q", secrets)
		}
	}
}
