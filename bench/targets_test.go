package bench

import (
	"strings"
	"testing"
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
