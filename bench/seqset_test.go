package bench

import (
	"math/rand"
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

// Pages are allocated only where numbers fall: a far number costs one page.
func TestSeqSetSparsePages(t *testing.T) {
	var s seqSet
	s.add(10 * seqPageBits)
	if len(s.pages) != 11 {
		t.Fatalf("%d pages, want 11", len(s.pages))
	}
	for i, p := range s.pages {
		if (p != nil) != (i == 10) {
			t.Errorf("page %d allocated: %v", i, p != nil)
		}
	}
	if len(s.pages[10]) != seqPageBits/64 {
		t.Errorf("page of %d words", len(s.pages[10]))
	}
}

// Against a map: the same answers for a random sequence with repeats.
func TestSeqSetMatchesAMap(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var s seqSet
	seen := map[int64]bool{}
	for i := 0; i < 200000; i++ {
		n := rng.Int63n(3 * seqPageBits)
		if got, want := s.add(n), !seen[n]; got != want {
			t.Fatalf("add(%d) = %v, want %v", n, got, want)
		}
		seen[n] = true
	}
}
