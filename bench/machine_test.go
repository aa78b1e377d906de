package bench

import (
	"testing"
	"time"
)

// Time the kernel accounted to nothing on a core counts as taken by the host, as
// does the steal it reports; a machine that accounts for all its wall time lost none.
func TestHostTakenPct(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := hostSample{at: t0, accounted: 100, steal: 5, cores: 2, ok: true}
	full := hostSample{at: t0.Add(10 * time.Second), accounted: 120, steal: 5, cores: 2, ok: true}
	if got, ok := hostTakenPct(a, full); !ok || got != 0 {
		t.Errorf("every second accounted: %v%% taken, want 0", got)
	}
	short := hostSample{at: t0.Add(10 * time.Second), accounted: 117, steal: 6, cores: 2, ok: true}
	// 20 s of core time: 17 accounted, 1 steal, 2 missing -> 3 s over 10 s = 30% of a core.
	if got, ok := hostTakenPct(a, short); !ok || got < 29.99 || got > 30.01 {
		t.Errorf("taken %v%%, want 30", got)
	}
	if _, ok := hostTakenPct(a, hostSample{}); ok {
		t.Error("a failed read gave a figure")
	}
	if s := readHost(); !s.ok || s.cores < 1 || s.accounted <= 0 {
		t.Errorf("readHost on this machine: %+v", s)
	}
}
