package bench

import (
	"sync"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1 µs to 10 minutes, with 3
// significant digits (HdrHistogram).
const (
	histMaxMicros = 10 * 60 * 1_000_000
	histDigits    = 3
	recShards     = 16
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, histMaxMicros, histDigits) }

// clampMicros keeps a value inside the histogram's range.
func clampMicros(us int64) int64 {
	if us < 1 {
		return 1
	}
	if us > histMaxMicros {
		return histMaxMicros
	}
	return us
}

// recorder is a latency histogram that many goroutines record into: sharded by
// connection, each shard holding the run's histogram and the current interval's.
type recorder struct {
	shards [recShards]recShard
}

type recShard struct {
	mu       sync.Mutex
	all, cur *hdrhistogram.Histogram
	_        [40]byte // keep shards on separate cache lines
}

func newRecorder() *recorder {
	r := &recorder{}
	for i := range r.shards {
		r.shards[i].all, r.shards[i].cur = newHist(), newHist()
	}
	return r
}

// record adds one value (µs) from connection conn.
func (r *recorder) record(conn int, us int64) {
	s := &r.shards[conn%recShards]
	us = clampMicros(us)
	s.mu.Lock()
	_ = s.all.RecordValue(us)
	_ = s.cur.RecordValue(us)
	s.mu.Unlock()
}

// interval returns what was recorded since the previous call, and starts a new interval.
func (r *recorder) interval() *hdrhistogram.Histogram {
	out := newHist()
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		out.Merge(s.cur)
		s.cur.Reset()
		s.mu.Unlock()
	}
	return out
}

// total returns everything recorded.
func (r *recorder) total() *hdrhistogram.Histogram {
	out := newHist()
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		out.Merge(s.all)
		s.mu.Unlock()
	}
	return out
}

// Latency summarizes a histogram, in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	Min   float64 `json:"min_ms"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	P9999 float64 `json:"p9999_ms"`
	Max   float64 `json:"max_ms"`
	// Spectrum is the percentile distribution (percentile, ms), for charts and for
	// re-reading the run later.
	Spectrum []PercentilePoint `json:"spectrum,omitempty"`
}

// PercentilePoint is one point of a latency distribution.
type PercentilePoint struct {
	Percentile float64 `json:"p"`
	Ms         float64 `json:"ms"`
}

func summarize(h *hdrhistogram.Histogram) *Latency {
	if h == nil || h.TotalCount() == 0 {
		return nil
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	l := &Latency{
		Count: h.TotalCount(),
		Min:   ms(h.Min()),
		Mean:  h.Mean() / 1000,
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		P9999: ms(h.ValueAtQuantile(99.99)),
		Max:   ms(h.Max()),
	}
	for _, p := range spectrumPoints {
		l.Spectrum = append(l.Spectrum, PercentilePoint{Percentile: p, Ms: ms(h.ValueAtQuantile(p))})
	}
	return l
}

// spectrumPoints are the percentiles kept for the latency distribution chart.
var spectrumPoints = func() []float64 {
	var ps []float64
	for _, decade := range []float64{0, 90, 99, 99.9, 99.99} {
		step := (100 - decade) / 10
		for i := 0; i < 9; i++ {
			ps = append(ps, decade+float64(i)*step)
		}
	}
	return append(ps, 99.999, 100)
}()

func encodeHist(h *hdrhistogram.Histogram) string {
	if h == nil {
		return ""
	}
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return ""
	}
	return string(b)
}

func decodeHist(s string) *hdrhistogram.Histogram {
	if s == "" {
		return newHist()
	}
	h, err := hdrhistogram.Decode([]byte(s))
	if err != nil {
		return newHist()
	}
	return h
}
