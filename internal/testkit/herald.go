package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Herald is the herald binary a package's tests run as processes (kill -9 and
// SIGTERM are then what an operator does), built on first use, once per test
// binary, into a directory Remove deletes (call it from TestMain after m.Run).
// Race builds it with the race detector.
type Herald struct {
	Race bool
	once sync.Once
	dir  string
	path string
	err  error
}

// Path builds the binary the first time and returns where it is;
// $HERALD_TEST_BINARY names one built already.
func (h *Herald) Path(tb testing.TB) string {
	tb.Helper()
	h.once.Do(h.build)
	if h.err != nil {
		tb.Fatal(h.err)
	}
	return h.path
}

func (h *Herald) build() {
	if h.path = os.Getenv("HERALD_TEST_BINARY"); h.path != "" {
		return
	}
	if h.dir, h.err = os.MkdirTemp("", "herald-test-bin-"); h.err != nil {
		return
	}
	h.path, h.err = BuildHerald(h.dir, h.Race)
}

// Remove deletes the binary this Herald built, if any.
func (h *Herald) Remove() {
	if h.dir != "" {
		_ = os.RemoveAll(h.dir)
	}
}

// BuildHerald builds cmd/herald into dir and returns the binary's path.
func BuildHerald(dir string, race bool) (string, error) {
	path := filepath.Join(dir, "herald")
	args := []string{"build", "-o", path}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "github.com/herald-push/herald/cmd/herald")
	if out, err := exec.Command(goBinary(), args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("testkit: go build herald: %v\n%s", err, out)
	}
	return path, nil
}

// goBinary is the go command of the toolchain running the tests where it can
// tell, so that the binary is built by the same Go.
func goBinary() string {
	gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		return "go"
	}
	return gobin
}
