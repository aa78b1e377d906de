package bench

import (
	"testing"
)

func TestSeqSet(t *testing.T) {
	var s seqSet
	for _, i := range []int64{0, 1, 63, 64, seqPageBits - 1, seqPageBits, 5 * seqPageBits} {
		if !s.add(i) {
			t.Errorf("%d not new", i)
		}
		if s.add(i) {
			t.Errorf("%d new twice", i)
		}
	}
	if s.add(-1) {
		t.Error("negative numbers are never new")
	}
}
