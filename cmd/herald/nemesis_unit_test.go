package main

import (
	"reflect"
	"testing"
	"time"

	"github.com/herald-push/herald/streams/redistest"
)

// The fault plan is what a seed reproduces: the same seed and duration give the same
// plan, another seed another one, and every fault kind of the menu comes up in a
// long run.
func TestNemesisPlanIsAFunctionOfTheSeed(t *testing.T) {
	for _, c := range []struct {
		name string
		menu []nemesisFaultKind
	}{
		{"standalone", (&nemesisStandalone{}).faults(3, 3*time.Second)},
		{"sentinel", (&nemesisSentinel{}).faults(3, 3*time.Second)},
		{"cluster", (&nemesisRedisCluster{}).faults(3, 3*time.Second)},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := nemesisPlan(7, 10*time.Minute, c.menu)
			if b := nemesisPlan(7, 10*time.Minute, c.menu); !reflect.DeepEqual(a, b) {
				t.Fatal("two plans from seed 7 differ")
			}
			if c := nemesisPlan(8, 10*time.Minute, c.menu); reflect.DeepEqual(a, c) {
				t.Fatal("seeds 7 and 8 gave the same plan")
			}
			checkPlan(t, a, c.menu)
		})
	}
}

func checkPlan(t *testing.T, plan []nemesisFault, menu []nemesisFaultKind) {
	t.Helper()
	kinds := map[string]int{}
	stops := map[bool]int{}        // master stops longer than down-after
	last := map[int]nemesisFault{} // each lane's previous fault
	for i, f := range plan {
		kinds[f.Kind]++
		if prev, ok := last[f.Lane]; ok && f.At < prev.At+prev.Hold {
			t.Fatalf("fault %d (%v) starts before the previous one of its lane ends (%v)", i, f, prev)
		}
		last[f.Lane] = f
		if f.Kind == faultNodeStop && f.Hold <= 3*time.Second {
			t.Fatalf("%v: a node must stay stopped longer than node_ttl", f)
		}
		if f.Kind == faultMasterStop {
			stops[f.Hold > redistest.SentinelDownAfter]++ // = redistest.HANodeTimeout
		}
		if f.Lane == 0 && f.Shard > 3 {
			t.Fatalf("%v: there are 3 shards", f)
		}
	}
	for _, k := range menu {
		if kinds[k.kind] == 0 {
			t.Fatalf("no %s in 10 minutes: %v", k.kind, kinds)
		}
	}
	if kinds[faultMasterStop] > 0 && (stops[true] == 0 || stops[false] == 0) {
		t.Fatalf("master stops longer / shorter than down-after: %d / %d", stops[true], stops[false])
	}
}

func TestNemesisLossEpisodes(t *testing.T) {
	at := time.Now()
	pub := func(seq int, u string) nemesisPub {
		return nemesisPub{Seq: seq, User: u, At: at.Add(time.Duration(seq) * time.Millisecond)}
	}
	byUser := map[string][]nemesisPub{
		"a": {pub(1, "a"), pub(3, "a"), pub(5, "a"), pub(7, "a")},
		"b": {pub(2, "b"), pub(4, "b"), pub(6, "b")},
	}
	lost := []nemesisPub{pub(3, "a"), pub(5, "a"), pub(2, "b"), pub(6, "b")}
	var got [][]int
	for _, ep := range lossEpisodes(byUser, lost) {
		var seqs []int
		for _, p := range ep {
			seqs = append(seqs, p.Seq)
		}
		got = append(got, seqs)
	}
	if want := [][]int{{2}, {3, 5}, {6}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("episodes %v, want %v", got, want)
	}
}

func TestOffsetAbove(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{{"2-0", "1-5", true}, {"1-5", "2-0", false}, {"10-0", "9-9", true}, {"1-10", "1-9", true}, {"1-1", "1-1", false}, {"1-0", "0-0", true}} {
		if got := offsetAbove(c.a, c.b); got != c.want {
			t.Errorf("offsetAbove(%s, %s) = %v", c.a, c.b, got)
		}
	}
}
