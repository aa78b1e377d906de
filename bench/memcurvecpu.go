package bench

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
)

// The CPU a stream-node-max-bytes value costs, on the commands Herald sends to
// history streams. Each pass sends one kind of command and reads INFO
// commandstats (Redis's time inside the command) and INFO cpu (all of Redis's
// CPU, protocol and I/O included) around it. The passes repeat --cpu-runs times:
// on a machine shared with other work one run can be slow for reasons of its own.

// cpuPass is one kind of command, sent to a set of keys.
type cpuPass struct {
	op, label string
	cmd       string // the INFO commandstats name
	keys      []string
	per       int // commands per key
	args      func(key string) []any
}

// cpuRuns measures every value's commands n times. Within a run the values take
// turns (in reverse order every other run), so that a slow stretch of a shared
// machine falls on all of them rather than on one.
func cpuRuns(ctx context.Context, runs []*memRun, n int) ([]CurveCPU, error) {
	results := make([][]CurveCPU, len(runs))
	for i, m := range runs {
		for _, p := range m.passes() {
			results[i] = append(results[i], CurveCPU{NodeMaxBytes: m.value, Op: p.op, Label: p.label, Calls: int64(len(p.keys) * p.per)})
		}
	}
	for run := 0; run < n; run++ {
		for j := range runs {
			i := j
			if run%2 == 1 {
				i = len(runs) - 1 - j
			}
			if err := runs[i].cpuRun(ctx, results[i]); err != nil {
				return nil, err
			}
		}
	}
	var out []CurveCPU
	for i := range results {
		for j := range results[i] {
			summarizeCPU(&results[i][j])
		}
		out = append(out, results[i]...)
	}
	return out, nil
}

// passes are the commands measured: recips hold the curve's largest entry count,
// full are full histories, scratch streams are appended to from empty.
func (m *memRun) passes() []cpuPass {
	scratch := m.names("s", min(len(m.recips), 1000))
	return []cpuPass{
		{op: "xadd", label: "history append (XADD MAXLEN), stream not full", cmd: "xadd", keys: scratch, per: 50, args: m.xadd},
		{op: "xadd_trim", label: "history append to a full history (XADD MAXLEN trims one entry)", cmd: "xadd", keys: m.full, per: 20, args: m.xadd},
		{op: "pexpire", label: "history TTL refresh (PEXPIRE)", cmd: "pexpire", keys: m.recips, per: 1,
			args: func(k string) []any { return []any{"pexpire", k, int64(24 * time.Hour / time.Millisecond)} }},
		{op: "xrange", label: "replay page (XRANGE COUNT 100)", cmd: "xrange", keys: m.recips, per: 1,
			args: func(k string) []any { return []any{"xrange", k, "-", "+", "count", 100} }},
		{op: "xrevrange", label: "history top (XREVRANGE COUNT 1)", cmd: "xrevrange", keys: m.recips, per: 1,
			args: func(k string) []any { return []any{"xrevrange", k, "+", "-", "count", 1} }},
	}
}

// cpuRun runs every pass once, adding a run to each result, and deletes the
// scratch streams so that the next run appends to new ones again.
func (m *memRun) cpuRun(ctx context.Context, results []CurveCPU) error {
	passes := m.passes()
	for i, p := range passes {
		usec, cpu, err := m.runPass(ctx, p)
		if err != nil {
			return err
		}
		results[i].Runs = append(results[i].Runs, usec)
		results[i].CPURuns = append(results[i].CPURuns, cpu)
	}
	return m.unlink(ctx, passes[0].keys)
}

// runPass sends one pass and returns µs per call inside the command and of all
// of Redis's CPU.
func (m *memRun) runPass(ctx context.Context, p cpuPass) (usec, cpu float64, err error) {
	before := redisCommandStats(ctx, m.rdb)
	cpu0, ok0 := redisCPU(ctx, m.rdb)
	pipe := m.rdb.Pipeline()
	for round := 0; round < p.per; round++ {
		for _, k := range p.keys {
			pipe.Do(ctx, p.args(k)...)
			if pipe.Len() >= curveBatch {
				if err := execAll(ctx, pipe); err != nil {
					return 0, 0, err
				}
			}
		}
	}
	if err := execAll(ctx, pipe); err != nil {
		return 0, 0, err
	}
	cpu1, ok1 := redisCPU(ctx, m.rdb)
	after := redisCommandStats(ctx, m.rdb)
	d := after[p.cmd]
	d.calls -= before[p.cmd].calls
	d.usec -= before[p.cmd].usec
	if d.calls <= 0 {
		return 0, 0, fmt.Errorf("bench: INFO commandstats counted no %s calls", strings.ToUpper(p.cmd))
	}
	usec = float64(d.usec) / float64(d.calls)
	cpu = math.NaN()
	if ok0 && ok1 {
		cpu = (cpu1 - cpu0) * 1e6 / float64(d.calls)
	}
	return usec, cpu, nil
}

// summarizeCPU sets the medians and the spread of a command's runs.
func summarizeCPU(c *CurveCPU) {
	if len(c.Runs) == 0 {
		return
	}
	c.UsecPerCall = median(c.Runs)
	c.MinUsec, c.MaxUsec = c.Runs[0], c.Runs[0]
	for _, v := range c.Runs {
		c.MinUsec, c.MaxUsec = math.Min(c.MinUsec, v), math.Max(c.MaxUsec, v)
	}
	var cpus []float64
	for _, v := range c.CPURuns {
		if !math.IsNaN(v) {
			cpus = append(cpus, v)
		}
	}
	if len(cpus) > 0 {
		c.CPUPerCall = median(cpus)
	}
	c.CPURuns = cpus
}
