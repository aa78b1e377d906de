package actors

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herald-push/herald/wire"
)

// Live pushes: newer ones written, duplicates dropped, a late one (older than the
// newest written, after the floor, never written) written rather than lost.
func TestSubDueWritesLatePushesOnce(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	sb := &sub{floor: wire.Offset{Ms: 10}, last: wire.Offset{Ms: 10}}
	o := func(ms uint64) wire.Offset { return wire.Offset{Ms: ms} }
	steps := []struct {
		off  uint64
		want bool
	}{
		{9, false},  // at or below the floor: the replay had it
		{10, false}, // the replay's last
		{12, true},  // newer
		{14, true},  // newer
		{12, false}, // written already
		{13, true},  // late: a router failover let it trail 14
		{13, false}, // and only once
		{15, true},
	}
	for _, st := range steps {
		if got := sb.due(o(st.off), m); got != st.want {
			t.Fatalf("due(%d) = %v, want %v", st.off, got, st.want)
		}
	}
}

// The ring remembers the last 64 offsets written: a redelivery older than those
// (and above the floor) is written again, as a late push; one still remembered
// is not.
func TestSubDueRemembersTheLast64Writes(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	sb := &sub{}
	for ms := uint64(1); ms <= 100; ms++ {
		if !sb.due(wire.Offset{Ms: ms}, m) {
			t.Fatalf("due(%d) = false for a newer push", ms)
		}
	}
	if sb.due(wire.Offset{Ms: 50}, m) {
		t.Fatal("a push among the last 64 written was written again")
	}
	if !sb.due(wire.Offset{Ms: 10}, m) {
		t.Fatal("a push older than the last 64 writes was dropped")
	}
	if sb.due(wire.Offset{Ms: 10}, m) {
		t.Fatal("a late push was written twice")
	}
	if n := testCounter(m.LatePushes); n != 1 {
		t.Fatalf("herald_late_pushes_total = %v, want 1", n)
	}
}
