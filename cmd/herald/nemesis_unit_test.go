package main

import (
	"reflect"
	"testing"
	"time"
)

// The fault plan is what a seed reproduces: the same seed and duration give the same
// plan, another seed another one, and every fault kind comes up in a long run.
func TestNemesisPlanIsAFunctionOfTheSeed(t *testing.T) {
	a := nemesisPlan(7, 10*time.Minute, 3, 3*time.Second)
	if b := nemesisPlan(7, 10*time.Minute, 3, 3*time.Second); !reflect.DeepEqual(a, b) {
		t.Fatal("two plans from seed 7 differ")
	}
	if c := nemesisPlan(8, 10*time.Minute, 3, 3*time.Second); reflect.DeepEqual(a, c) {
		t.Fatal("seeds 7 and 8 gave the same plan")
	}
	kinds := map[string]int{}
	for i, f := range a {
		kinds[f.Kind]++
		if i > 0 && f.At < a[i-1].At+a[i-1].Hold {
			t.Fatalf("fault %d (%v) starts before fault %d ends (%v)", i, f, i-1, a[i-1])
		}
		if f.Kind == faultNodeStop && f.Hold <= 3*time.Second {
			t.Fatalf("%v: a node must stay stopped longer than node_ttl", f)
		}
	}
	for _, k := range []string{faultNodeKill, faultNodeStop, faultRedisKill, faultRedisStop} {
		if kinds[k] == 0 {
			t.Fatalf("no %s in 10 minutes: %v", k, kinds)
		}
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
