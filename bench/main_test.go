package bench

import (
	"runtime/debug"
	"testing"
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
