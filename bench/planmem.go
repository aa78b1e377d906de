package bench

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// Redis memory in `herald bench plan`: the history streams of the recipients, from
// the measured curve of memory against entries under the Redis's
// stream-node-max-bytes, plus the ingress backlog and the presence sets.

// PlanAlternative is what the history would take under another setting.
type PlanAlternative struct {
	Setting      string  `json:"setting"` // stream-node-max-bytes, history.ttl or history.size
	Value        string  `json:"value"`
	HistoryBytes float64 `json:"history_bytes"`
	SavedBytes   float64 `json:"saved_bytes"` // negative: it costs more
}

// memModel is what the plan knows of Redis memory.
type memModel struct {
	curve    *NodeCurve // nil: the linear figures below
	curveSrc string
	value    int64 // stream-node-max-bytes the plan assumes
	valueSrc string
	// Linear model of a delivery run's history sample, when there is no curve.
	perRecipient, perEntry float64
	ingress, presence      float64
	src                    string
}

// memModelOf collects the memory figures of the results; nodeMaxBytes > 0
// overrides the measured Redis's setting.
func memModelOf(res *Results, nodeMaxBytes int64) memModel {
	m := memModel{perRecipient: 4700, perEntry: 230, ingress: 153, src: "research/pipeline.md (not measured in this run)"}
	var memRun *ScenarioResult
	for _, s := range res.Scenarios {
		if s.Redis != nil && s.Redis.PerRecipientBytes > 0 && (memRun == nil || s.Redis.HistoryProbeEntries > memRun.Redis.HistoryProbeEntries) {
			memRun = s
		}
		if s.Curve != nil && len(s.Curve.Points) > 0 && s.Status == statusOK {
			m.curve, m.curveSrc = s.Curve, s.Label
		}
	}
	if memRun != nil {
		m.perRecipient, m.src = memRun.Redis.PerRecipientBytes, memRun.Label
		if memRun.Redis.PerEntryBytes > 0 {
			m.perEntry = memRun.Redis.PerEntryBytes
		}
		if memRun.Redis.IngressEntryBytes > 0 {
			m.ingress = memRun.Redis.IngressEntryBytes
		}
		m.presence = memRun.Redis.PresenceBytes
	}
	switch {
	case nodeMaxBytes > 0:
		m.value, m.valueSrc = nodeMaxBytes, "--stream-node-max-bytes"
	case memRun != nil && memRun.Redis.StreamNodeMaxBytes > 0:
		m.value, m.valueSrc = memRun.Redis.StreamNodeMaxBytes, "the setting of the Redis "+memRun.Label+" ran on (CONFIG GET)"
	case m.curve != nil && m.curve.Configured > 0:
		m.value, m.valueSrc = m.curve.Configured, "the setting of the Redis "+m.curveSrc+" measured (CONFIG GET)"
	default:
		m.value, m.valueSrc = redisDefaultNodeBytes, "Redis's default (the measured Redis did not say: CONFIG refused)"
	}
	return m
}

// redisDefaultNodeBytes is Redis's default stream-node-max-bytes.
const redisDefaultNodeBytes = 4096

// cost is the memory of one recipient's history holding k entries under value v.
func (m memModel) cost(v int64, k float64) float64 {
	if m.curve == nil {
		return m.perRecipient + (k-1)*m.perEntry
	}
	top := float64(m.curve.MaxEntries())
	if k <= top {
		b, _ := m.curve.At(v, k)
		return b
	}
	// Past the measured history.size: each further entry at the slope of the
	// curve's last segment.
	row := m.curve.row(nearestValue(m.curve, v))
	if len(row) < 2 {
		b, _ := m.curve.At(v, top)
		return b
	}
	a, b := row[len(row)-2], row[len(row)-1]
	slope := (b.BytesPerRecipient - a.BytesPerRecipient) / float64(b.Entries-a.Entries)
	at, _ := m.curve.At(v, top)
	return at + (k-top)*slope
}

// nearestValue is the measured value closest to v.
func nearestValue(c *NodeCurve, v int64) int64 {
	best := int64(0)
	for _, x := range c.Values() {
		if best == 0 || math.Abs(float64(x-v)) < math.Abs(float64(best-v)) {
			best = x
		}
	}
	return best
}

// historyLoad is the history side of the load: users, the share of them that
// receive pushes, the rate over them, history.size and history.ttl.
type historyLoad struct {
	users  int
	active float64
	rate   float64
	size   int
	ttl    time.Duration
}

// mean is the pushes an active user receives within history.ttl.
func (h historyLoad) mean() float64 {
	au := float64(h.users) * h.active
	if au <= 0 {
		return 0
	}
	return h.rate / au * h.ttl.Seconds()
}

// history is the memory of every history stream under value v: recipients with
// a stream, and the mean memory of one.
func (m memModel) history(h historyLoad, v int64) (bytes, recipients, perRecipient float64) {
	per, share := poissonCost(h.mean(), h.size, func(k float64) float64 { return m.cost(v, k) })
	recipients = float64(h.users) * h.active * share
	return recipients * per, recipients, per
}

// alternatives are what other stream-node-max-bytes values, history.ttl and
// history.size values would take for the same load.
func (m memModel) alternatives(h historyLoad, ttls []time.Duration, sizes []int) []PlanAlternative {
	base, _, _ := m.history(h, m.value)
	var out []PlanAlternative
	add := func(setting, value string, b float64) {
		out = append(out, PlanAlternative{Setting: setting, Value: value, HistoryBytes: b, SavedBytes: base - b})
	}
	if m.curve != nil {
		for _, v := range m.curve.Values() {
			if v != m.value {
				b, _, _ := m.history(h, v)
				add("stream-node-max-bytes", fmt.Sprint(v), b)
			}
		}
	}
	for _, t := range ttls {
		alt := h
		alt.ttl = t
		b, _, _ := m.history(alt, m.value)
		add("history.ttl", formatDur(t), b)
	}
	for _, s := range sizes {
		alt := h
		alt.size = s
		b, _, _ := m.history(alt, m.value)
		add("history.size", fmt.Sprint(s), b)
	}
	return out
}

// defaultComparisons are the history.ttl and history.size values the plan
// compares with when not told: a half and a quarter of the TTL, a tenth and a
// hundredth of the size.
func defaultComparisons(ttl time.Duration, size int) ([]time.Duration, []int) {
	var ttls []time.Duration
	for _, d := range []time.Duration{ttl / 2, ttl / 4} {
		if d >= time.Minute {
			ttls = append(ttls, d)
		}
	}
	var sizes []int
	for _, s := range []int{size / 10, size / 100} {
		if s >= 1 && (len(sizes) == 0 || sizes[len(sizes)-1] != s) {
			sizes = append(sizes, s)
		}
	}
	return ttls, sizes
}

// formatDur prints 24h0m0s as 24h and 1h30m0s as 1h30m.
func formatDur(d time.Duration) string {
	s := d.String()
	for _, suffix := range []string{"m0s", "h0m"} {
		if len(s) > len(suffix) && s[len(s)-len(suffix):] == suffix {
			s = s[:len(s)-len(suffix)+1]
		}
	}
	return s
}

// planRedisMemory sizes Redis's memory and what other settings would save.
func planRedisMemory(res *Results, in planInput, p *Plan) {
	m := memModelOf(res, in.nodeMaxBytes)
	h := historyLoad{users: in.users, active: in.active, rate: in.rate, size: in.histSize, ttl: in.histTTL}
	hist, recipients, per := m.history(h, m.value)
	ingressEntries := in.rate * in.ingressSecs
	ingressMem := ingressEntries * m.ingress
	presMem := float64(in.users) * m.presence
	p.RedisMemoryBytes = hist + ingressMem + presMem
	p.RedisHistoryBytes, p.RedisHistoryRecipients, p.RedisBytesPerRecipient = hist, recipients, per
	p.RedisStreamNodeMaxBytes = m.value
	costs := fmt.Sprintf("linear model from %s: %s B for the first entry + %s B per further entry", m.src, fmtNum(m.perRecipient), fmtNum(m.perEntry))
	if m.curve != nil {
		_, exact := m.curve.At(m.value, 1)
		costs = fmt.Sprintf("measured curve of %s (%s)", m.curveSrc, m.curve.describe())
		if !exact {
			costs += fmt.Sprintf("; %d was not measured: interpolated between the nearest values", m.value)
			p.Warnings = append(p.Warnings, fmt.Sprintf("stream-node-max-bytes %d was not measured; memory interpolated from the curve's values %v", m.value, m.curve.Values()))
		}
	}
	p.RedisMemoryDetail = fmt.Sprintf("history: %s recipients with a stream (of %s users, %.0f%% active, %.1f pushes each within history.ttl %s on average, at most history.size %d) x %s B each, "+
		"under stream-node-max-bytes %d (%s; %s) + herald:in %s entries x %s B + presence %s users x %s B",
		fmtNum(math.Round(recipients)), fmtNum(float64(in.users)), in.active*100, h.mean(), formatDur(in.histTTL), in.histSize, fmtNum(math.Round(per)),
		m.value, m.valueSrc, costs, fmtNum(ingressEntries), fmtNum(m.ingress), fmtNum(float64(in.users)), fmtNum(m.presence))
	ttls, sizes := in.compareTTL, in.compareSize
	if ttls == nil && sizes == nil {
		ttls, sizes = defaultComparisons(in.histTTL, in.histSize)
	}
	p.RedisMemoryAlternatives = m.alternatives(h, ttls, sizes)
	if m.curve == nil {
		p.Warnings = append(p.Warnings, "no redis-memory run in the results: history memory from a linear model of one run's sample, which misses the stream-node-max-bytes floor (run: herald bench redis-memory)")
	}
}

// parseComparisons reads --compare-ttl and --compare-size.
func (in *planInput) parseComparisons(ttls, sizes string) error {
	for _, s := range splitList(ttls) {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return fmt.Errorf("plan: --compare-ttl: %q is not a positive duration", s)
		}
		in.compareTTL = append(in.compareTTL, d)
	}
	for _, s := range splitList(sizes) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fmt.Errorf("plan: --compare-size: %q is not a positive count", s)
		}
		in.compareSize = append(in.compareSize, n)
	}
	if in.compareTTL != nil || in.compareSize != nil { // one given: compare with it only
		in.compareTTL = append([]time.Duration{}, in.compareTTL...)
		in.compareSize = append([]int{}, in.compareSize...)
	}
	return nil
}

// printAlternatives prints what other settings would take, largest saving first
// within each setting.
func printAlternatives(w io.Writer, p *Plan) {
	if len(p.RedisMemoryAlternatives) == 0 {
		return
	}
	fmt.Fprintf(w, "  history under other settings (now %.2f GiB at stream-node-max-bytes %d, %s B per recipient):\n",
		p.RedisHistoryBytes/(1<<30), p.RedisStreamNodeMaxBytes, fmtNum(math.Round(p.RedisBytesPerRecipient)))
	for _, a := range p.RedisMemoryAlternatives {
		verb := "saves"
		saved := a.SavedBytes
		if saved < 0 {
			verb, saved = "costs", -saved
		}
		pct := 0.0
		if p.RedisHistoryBytes > 0 {
			pct = saved / p.RedisHistoryBytes * 100
		}
		fmt.Fprintf(w, "    %-22s %-6s %7.2f GiB: %s %.2f GiB (%.0f%%)\n", a.Setting, a.Value, a.HistoryBytes/(1<<30), verb, saved/(1<<30), pct)
	}
}
