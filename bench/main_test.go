package bench

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"
)

// The bench's own processes collect garbage at clientGCPercent unless GOGC says
// otherwise.
func TestInstrumentGC(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	instrumentGC([]string{"HOME=/root", "GOGC=250"})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC in the environment the GC percent became %d, want it left alone", got)
	}
	instrumentGC([]string{"HOME=/root"})
	if got := debug.SetGCPercent(100); got != clientGCPercent {
		t.Errorf("GC percent %d, want %d", got, clientGCPercent)
	}
}

func TestStartCPUProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	stop, err := startCPUProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); time.Since(start) < 20*time.Millisecond; {
	}
	stop()
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Errorf("profile: %v %v", fi, err)
	}
	if _, err := startCPUProfile(filepath.Join(t.TempDir(), "no", "cpu.pprof")); err == nil {
		t.Error("a profile in a missing directory")
	}
}
