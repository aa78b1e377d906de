package bench

import (
	"context"
	"math"
	"time"
)

// usage is a CPU and memory reading of the servers and Redis.
type usage struct {
	at        time.Time
	nodeCPU   []float64 // per node, seconds; NaN when unknown
	redisCPU  float64
	redisMem  float64
	clientCPU float64 // the bench process and its workers, seconds
	redisCmds map[string]cmdStat
	host      hostSample
}

// usage reads the CPU of every node (from /proc for the processes it started, from
// /metrics for given ones), of the clients' processes, of Redis and of the host.
func (r *runner) usage(ctx context.Context, e *env, pool *clientPool) usage {
	u := usage{at: time.Now(), redisCPU: math.NaN(), host: readHost()}
	if pool != nil {
		for _, pid := range pool.pids() {
			if c, ok := procCPU(pid); ok {
				u.clientCPU += c
			}
		}
	}
	for i := range e.urls {
		u.nodeCPU = append(u.nodeCPU, nodeCPU(ctx, e, i))
	}
	if e.rdb != nil {
		if c, ok := redisCPU(ctx, e.rdb); ok {
			u.redisCPU = c
		}
		u.redisMem = redisUsedMemory(ctx, e.rdb)
		u.redisCmds = redisCommandStats(ctx, e.rdb)
	}
	return u
}

// nodeCPU is node i's CPU seconds; NaN when it is not running or does not say.
func nodeCPU(ctx context.Context, e *env, i int) float64 {
	v := math.NaN()
	if p := e.procs[i]; p != nil {
		if p.alive() {
			if c, ok := procCPU(p.PID()); ok {
				v = c
			}
		}
	} else if m, err := scrapeMetrics(ctx, e.bases[i]+"/metrics"); err == nil {
		if c, ok := m["process_cpu_seconds_total"]; ok {
			v = c
		}
	}
	return v
}

// cpuBetween is the CPU seconds the nodes used between a and b (nodes known at both).
func cpuBetween(a, b usage) (float64, int) {
	var sum float64
	n := 0
	for i := range a.nodeCPU {
		if i < len(b.nodeCPU) && !math.IsNaN(a.nodeCPU[i]) && !math.IsNaN(b.nodeCPU[i]) {
			sum += b.nodeCPU[i] - a.nodeCPU[i]
			n++
		}
	}
	return sum, n
}
