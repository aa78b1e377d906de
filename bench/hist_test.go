package bench

import (
	"math"
	"sort"
	"sync"
	"testing"
)

func TestClampMicros(t *testing.T) {
	for in, want := range map[int64]int64{-5: 1, 0: 1, 1: 1, 1234: 1234, histMaxMicros: histMaxMicros, histMaxMicros + 1: histMaxMicros, math.MaxInt64: histMaxMicros} {
		if got := clampMicros(in); got != want {
			t.Errorf("clampMicros(%d) = %d, want %d", in, got, want)
		}
	}
}

// The recorder keeps the whole run and the current interval; interval hands the
// interval over and starts a new one, from every shard.
func TestRecorderIntervalsAndTotal(t *testing.T) {
	r := newRecorder()
	for conn := 0; conn < 3*recShards; conn++ {
		r.record(conn, int64(1000*(conn+1)))
	}
	first := r.interval()
	if first.TotalCount() != 3*recShards || first.Min() != 1000 || first.Max() < 48000 || first.Max() > 48100 {
		t.Errorf("first interval: %d values, %d..%d", first.TotalCount(), first.Min(), first.Max())
	}
	if again := r.interval(); again.TotalCount() != 0 {
		t.Errorf("an interval right after another holds %d values", again.TotalCount())
	}
	r.record(5, -10)              // clamped to 1 µs
	r.record(7, histMaxMicros*10) // clamped to the top
	second := r.interval()
	if second.TotalCount() != 2 || second.Min() != 1 || second.Max() < histMaxMicros {
		t.Errorf("second interval: %d values, %d..%d", second.TotalCount(), second.Min(), second.Max())
	}
	if all := r.total(); all.TotalCount() != 3*recShards+2 {
		t.Errorf("total %d, want every value", all.TotalCount())
	}
}

// Many goroutines record at once (the clients' callbacks): nothing is lost.
func TestRecorderConcurrent(t *testing.T) {
	r := newRecorder()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				r.record(g*1000+i, int64(i+1))
				if i%250 == 0 {
					r.interval()
				}
			}
		}(g)
	}
	wg.Wait()
	if n := r.total().TotalCount(); n != 8000 {
		t.Errorf("%d values recorded, want 8000", n)
	}
}

func TestSummarize(t *testing.T) {
	if summarize(nil) != nil || summarize(newHist()) != nil {
		t.Error("an empty histogram has a summary")
	}
	h := newHist()
	for us := int64(1); us <= 100000; us++ { // 1 µs to 100 ms, evenly
		_ = h.RecordValue(us)
	}
	l := summarize(h)
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"min", l.Min, 0.001}, {"p50", l.P50, 50}, {"p90", l.P90, 90}, {"p99", l.P99, 99}, {"p99.9", l.P999, 99.9},
		{"p99.99", l.P9999, 99.99}, {"max", l.Max, 100}, {"mean", l.Mean, 50},
	} {
		if !near(c.got, c.want, 0.002) { // 3 significant digits
			t.Errorf("%s = %v ms, want %v", c.name, c.got, c.want)
		}
	}
	if l.Count != 100000 || len(l.Spectrum) != len(spectrumPoints) {
		t.Errorf("count %d, %d spectrum points", l.Count, len(l.Spectrum))
	}
	for i := 1; i < len(l.Spectrum); i++ {
		if l.Spectrum[i].Percentile <= l.Spectrum[i-1].Percentile || l.Spectrum[i].Ms < l.Spectrum[i-1].Ms {
			t.Errorf("spectrum not rising at %d: %+v %+v", i, l.Spectrum[i-1], l.Spectrum[i])
		}
	}
}

// The spectrum has nine points per decade of nines, then 99.999 and 100.
func TestSpectrumPoints(t *testing.T) {
	ps := spectrumPoints
	if len(ps) != 47 || ps[0] != 0 || ps[len(ps)-1] != 100 || ps[len(ps)-2] != 99.999 || !sort.Float64sAreSorted(ps) {
		t.Fatalf("spectrum points %v", ps)
	}
	for _, want := range []float64{50, 90, 99, 99.9, 99.99} {
		found := false
		for _, p := range ps {
			found = found || math.Abs(p-want) < 1e-9
		}
		if !found {
			t.Errorf("no point at %v", want)
		}
	}
}

// Histograms travel between processes encoded; a bad encoding is an empty one.
func TestHistEncoding(t *testing.T) {
	h := newHist()
	for _, v := range []int64{5, 50, 500, 5000, 50000} {
		_ = h.RecordValue(v)
	}
	back := decodeHist(encodeHist(h))
	if back.TotalCount() != 5 || back.Max() != h.Max() || back.ValueAtQuantile(50) != h.ValueAtQuantile(50) {
		t.Errorf("decoded %d values, max %d", back.TotalCount(), back.Max())
	}
	if encodeHist(nil) != "" {
		t.Error("nil encodes to something")
	}
	for _, s := range []string{"", "not a histogram"} {
		if d := decodeHist(s); d == nil || d.TotalCount() != 0 {
			t.Errorf("decodeHist(%q) = %v", s, d)
		}
	}
}
