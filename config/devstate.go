package config

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// envDevState overrides where the embedded mode keeps its state.
const envDevState = "HERALD_DEV_STATE"

// DevState is what the embedded mode remembers between runs, so that tokens
// minted by `herald token` keep working against a restarted `herald serve`.
type DevState struct {
	Secret string `json:"secret"`
	// APIKey is the embedded node's key of POST /v1/publish when publish.api_key
	// is not set; the node accepts it from loopback clients only.
	APIKey    string `json:"api_key,omitempty"`
	RedisAddr string `json:"redis_addr"`
	HTTPAddr  string `json:"http_addr"`
}

// WithAPIKey returns s with an API key: its own, or a fresh random one when the
// file was written before the key existed (the node saves it with the rest).
func (s DevState) WithAPIKey() (DevState, error) {
	if s.APIKey != "" {
		return s, nil
	}
	key, err := randomHex(24)
	if err != nil {
		return s, fmt.Errorf("config: dev state: %w", err)
	}
	s.APIKey = key
	return s, nil
}

// DevStatePath is $HERALD_DEV_STATE from environ, else
// os.UserConfigDir()/herald/dev.json.
func DevStatePath(environ []string) (string, error) {
	for _, kv := range environ {
		if name, value, ok := strings.Cut(kv, "="); ok && name == envDevState && value != "" {
			return value, nil
		}
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("config: dev state: %w", err)
	}
	return filepath.Join(dir, "herald", "dev.json"), nil
}

// LoadOrCreateDevState reads the state at path, creating it with a fresh
// random secret when absent. It holds a secret, so it is kept 0600 in a 0700
// directory, and a file found with a broader mode is narrowed.
func LoadOrCreateDevState(path string) (DevState, error) {
	s, err := readDevState(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	secret, err := randomHex(32)
	if err != nil {
		return DevState{}, fmt.Errorf("config: dev state: %w", err)
	}
	if s, err = (DevState{Secret: secret}).WithAPIKey(); err != nil {
		return DevState{}, err
	}
	created, err := createDevState(path, s)
	if err != nil || created {
		return s, err
	}
	// Another process created it first; everyone must use its secret.
	return readDevState(path)
}

// SaveDevState replaces the state at path atomically.
func SaveDevState(path string, s DevState) error {
	tmp, err := writeTemp(path, s)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("config: dev state: %w", err)
	}
	return nil
}

func readDevState(path string) (DevState, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return DevState{}, err
		}
		return DevState{}, fmt.Errorf("config: dev state: %w", err)
	}
	if err := narrowMode(path); err != nil {
		return DevState{}, err
	}
	var s DevState
	if err := json.Unmarshal(b, &s); err != nil {
		return DevState{}, fmt.Errorf("config: dev state %s: %w", path, err)
	}
	if s.Secret == "" {
		return DevState{}, fmt.Errorf("config: dev state %s: no secret; delete the file to start over", path)
	}
	return s, nil
}

func narrowMode(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("config: dev state: %w", err)
	}
	if info.Mode().Perm()&^0o600 == 0 {
		return nil
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("config: dev state: %w", err)
	}
	return nil
}

// createDevState publishes the file with a hard link, which fails if the
// file exists: two processes starting at once cannot both win and end up
// with different secrets. It reports false when another process won.
func createDevState(path string, s DevState) (bool, error) {
	tmp, err := writeTemp(path, s)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	err = os.Link(tmp, path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrExist):
		return false, nil
	}
	// Some file systems have no hard links; an atomic rename is the fallback.
	if err := os.Rename(tmp, path); err != nil {
		return false, fmt.Errorf("config: dev state: %w", err)
	}
	return true, nil
}

// writeTemp writes s next to path, fully synced, and returns the temp name.
func writeTemp(path string, s DevState) (string, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("config: dev state: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", fmt.Errorf("config: dev state: %w", err)
	}
	f, err := os.CreateTemp(dir, ".dev-*.json")
	if err != nil {
		return "", fmt.Errorf("config: dev state: %w", err)
	}
	if err := writeSync(f, append(b, '\n')); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("config: dev state: %w", err)
	}
	return f.Name(), nil
}

func writeSync(f *os.File, b []byte) error {
	_, err := f.Write(b)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
