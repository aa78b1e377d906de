package bench

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// The nodes' own latency histograms: publish (the ingress entry's time) to the
// router's hand-off, and to the write on the socket. Set beside the clients'
// end-to-end figures they say where a delay is: in the routing (Redis and the
// router), in the node's sessions, or between the write and the client's read
// (the clients' process and the kernel, on a machine the bench shares).
var nodeHistograms = []struct{ metric, key, label string }{
	{"herald_route_lag_seconds", "node_routed", "node: publish to the router's hand-off"},
	{"herald_delivery_latency_seconds", "node_written", "node: publish to the write on the socket"},
}

// bucketCounts is a histogram's cumulative counts by upper bound (seconds).
type bucketCounts map[float64]float64

// scrapeHistograms reads the cumulative buckets of the named histograms from a
// Prometheus text endpoint.
func scrapeHistograms(ctx context.Context, url string, names []string) (map[string]bucketCounts, error) {
	out := map[string]bucketCounts{}
	err := readMetrics(ctx, url, func(line string) {
		name, le, v, ok := parseBucketLine(line)
		if !ok {
			return
		}
		for _, want := range names {
			if name == want {
				if out[name] == nil {
					out[name] = bucketCounts{}
				}
				out[name][le] += v
			}
		}
	})
	return out, err
}

// parseBucketLine reads `name_bucket{le="0.005"} 123`; +Inf is left out (the
// largest finite bound is enough to tell a share, and the total is the +Inf count
// only when every push fell under some bound).
func parseBucketLine(line string) (name string, le, v float64, ok bool) {
	i := strings.Index(line, "_bucket{")
	if i < 0 {
		return "", 0, 0, false
	}
	name = line[:i]
	rest := line[i+len("_bucket{"):]
	j := strings.Index(rest, `le="`)
	if j < 0 {
		return "", 0, 0, false
	}
	rest = rest[j+4:]
	k := strings.IndexByte(rest, '"')
	if k < 0 {
		return "", 0, 0, false
	}
	bound := rest[:k]
	if bound == "+Inf" {
		le = math.Inf(1)
	} else if le, ok = parseFloat(bound); !ok {
		return "", 0, 0, false
	}
	end := strings.IndexByte(rest[k:], '}')
	if end < 0 {
		return "", 0, 0, false
	}
	f := strings.Fields(rest[k+end+1:])
	if len(f) == 0 {
		return "", 0, 0, false
	}
	v, ok = parseFloat(f[0])
	return name, le, v, ok
}

func parseFloat(s string) (float64, bool) {
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// nodeLatencies scrapes each node's histograms; a node that does not answer (a
// killed one) is nil.
func (r *runner) nodeLatencies(ctx context.Context, e *env) []map[string]bucketCounts {
	names := make([]string, len(nodeHistograms))
	for i, h := range nodeHistograms {
		names[i] = h.metric
	}
	out := make([]map[string]bucketCounts, len(e.bases))
	for i, base := range e.bases {
		if m, err := scrapeHistograms(ctx, base+"/metrics", names); err == nil {
			out[i] = m
		}
	}
	return out
}

// addNodeLatencies adds, for each node histogram, the share of the run's pushes
// within 10 and 25 ms and the bucket bound under which 99 % fell, over the nodes
// that answered before and after the run.
func addNodeLatencies(sr *ScenarioResult, before, after []map[string]bucketCounts) {
	for _, h := range nodeHistograms {
		diff := bucketCounts{}
		for i := range after {
			if i >= len(before) || before[i] == nil || after[i] == nil {
				continue
			}
			for le, v := range after[i][h.metric] {
				diff[le] += v - before[i][h.metric][le]
			}
		}
		total := diff[math.Inf(1)]
		if total <= 0 {
			continue
		}
		for _, ms := range []float64{10, 25} {
			if v, ok := diff[ms/1000]; ok {
				sr.add(fmt.Sprintf("%s_within_%.0fms_pct", h.key, ms), fmt.Sprintf("%s within %.0f ms", h.label, ms), v/total*100, "%")
			}
		}
		if b, ok := quantileBound(diff, 0.99); ok {
			sr.add(h.key+"_p99_bound_ms", h.label+": p99 at most (histogram bucket bound)", b*1000, "ms")
		}
	}
}

// quantileBound is the smallest finite bucket bound holding at least q of the total.
func quantileBound(b bucketCounts, q float64) (float64, bool) {
	total := b[math.Inf(1)]
	bounds := make([]float64, 0, len(b))
	for le := range b {
		if !math.IsInf(le, 1) {
			bounds = append(bounds, le)
		}
	}
	sort.Float64s(bounds)
	for _, le := range bounds {
		if b[le] >= q*total {
			return le, true
		}
	}
	return 0, false
}
