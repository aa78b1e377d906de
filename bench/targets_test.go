package bench

import (
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestThroughputTargetNeedsTheFloorAndTheRatio(t *testing.T) {
	for _, c := range []struct {
		rate, ratio float64
		hasRatio    bool
		want        string
	}{
		{45000, 0.55, true, metOrMissed(true)},
		{45000, 0.45, true, metOrMissed(false)}, // fast enough, too far under the baseline
		{35000, 0.60, true, metOrMissed(false)}, // over the ratio, under the floor
		{45000, 0, false, metOrMissed(true)},    // no baseline: the floor alone
	} {
		s := &ScenarioResult{}
		s.add("delivered_per_s", "", c.rate, "msgs/s")
		if c.hasRatio {
			s.add("ratio_to_baseline", "", c.ratio, "")
		}
		s.throughputTarget("unicast flat out", "msgs/s", "baseline", 40000, 0.5, "n")
		got := s.Targets[0]
		if got.Status != c.want {
			t.Errorf("%.0f msgs/s, ratio %.2f (%v): %s, want %s", c.rate, c.ratio, c.hasRatio, got.Status, c.want)
		}
		if !c.hasRatio && !strings.Contains(got.Note, "no baseline") {
			t.Errorf("without a baseline the note says %q", got.Note)
		}
		if c.hasRatio && !strings.Contains(got.Value, "% of baseline") {
			t.Errorf("with a baseline the value says %q", got.Value)
		}
	}
}

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
