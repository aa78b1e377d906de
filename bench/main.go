// Package bench is `herald bench`: load scenarios against Herald nodes (started as
// child processes with their own redis-server, or given with --target/--redis),
// against a bare gws baseline on the same machine, and a capacity planner over the
// results. See bench/RESULTS.md for the commands and the figures of this machine.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
)

// Main runs `herald bench ARGS`. heraldBin is the binary nodes and workers run
// ("" = this executable).
func Main(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "internal-worker":
			instrumentGC(environ)
			return runWorker(os.Stdin, stdout)
		case "internal-baseline-server":
			return runBaselineServer(args[1:], stdout)
		case "plan":
			return runPlan(args[1:], stdout)
		}
	}
	cfg, fs, err := parseConfig(args, environ)
	if errors.Is(err, pflag.ErrHelp) || (len(args) > 0 && (args[0] == "help")) {
		fmt.Fprint(stdout, benchUsage+fs.FlagUsages()+"\n"+planUsage)
		return pflag.ErrHelp
	}
	if err != nil {
		return err
	}
	instrumentGC(environ)
	r := &runner{cfg: cfg, out: stdout, log: stderr}
	if r.heraldBin = cfg.HeraldBin; r.heraldBin == "" {
		if r.heraldBin, err = os.Executable(); err != nil {
			return err
		}
	}
	if cfg.Out == "" {
		cfg.Out = filepath.Join("bench-out", time.Now().Format("20060102-150405"))
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return err
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	return r.run(ctx, append([]string{"herald", "bench"}, args...))
}

// runner runs a list of scenarios and collects their results.
type runner struct {
	cfg       *Config
	heraldBin string
	out       io.Writer // tables
	log       io.Writer // progress
	logMu     sync.Mutex
	res       *Results
}

func (r *runner) logf(format string, args ...any) {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	fmt.Fprintf(r.log, format+"\n", args...)
}

func (r *runner) run(ctx context.Context, cmdline []string) error {
	r.res = &Results{
		Tool:    "herald bench",
		Schema:  1,
		Command: cmdline,
		Started: time.Now(),
		Machine: machineInfo(r.heraldBin),
		Config:  *r.cfg,
	}
	r.logf("herald bench: %v -> %s", r.cfg.Scenarios, r.cfg.Out)
	r.logf("machine: %s, %d cores, %.1f GiB, kernel %s, %s, herald %s, load %.2f",
		r.res.Machine.CPUModel, r.res.Machine.Cores, float64(r.res.Machine.RAMBytes)/(1<<30), r.res.Machine.Kernel,
		r.res.Machine.GoVersion, shortCommit(r.res.Machine.HeraldCommit, r.res.Machine.HeraldModified), r.res.Machine.LoadAvg[0])
	var failed int
	for i, name := range r.cfg.Scenarios {
		for _, sr := range r.runScenario(ctx, i, name) {
			r.res.Scenarios = append(r.res.Scenarios, sr)
			if sr.Status == statusFailed {
				failed++
			}
			compareToBaseline(r.res)
			printScenario(r.out, sr)
			if err := r.save(false); err != nil {
				r.logf("saving results: %v", err)
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	r.res.Finished = time.Now()
	compareToBaseline(r.res)
	evaluateTargets(r.res)
	printSummary(r.out, r.res)
	printTargets(r.out, r.res)
	if err := r.save(!r.cfg.NoReport); err != nil {
		return err
	}
	fmt.Fprintf(r.out, "\nresults: %s\n", filepath.Join(r.cfg.Out, "results.json"))
	if !r.cfg.NoReport {
		fmt.Fprintf(r.out, "report:  %s\n", filepath.Join(r.cfg.Out, "report.html"))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if failed > 0 {
		return fmt.Errorf("%d scenario run(s) failed", failed)
	}
	return nil
}

func (r *runner) save(report bool) error {
	if err := writeJSON(filepath.Join(r.cfg.Out, "results.json"), r.res); err != nil {
		return err
	}
	if report {
		return writeReport(filepath.Join(r.cfg.Out, "report.html"), r.res)
	}
	return nil
}

func shortCommit(c string, modified bool) string {
	if len(c) > 12 {
		c = c[:12]
	}
	if modified {
		c += "+modified"
	}
	return c
}

// runScenario runs one named scenario, at each rate where rates apply.
func (r *runner) runScenario(ctx context.Context, idx int, name string) []*ScenarioResult {
	dir := func(label string) string {
		return filepath.Join(r.cfg.Out, fmt.Sprintf("%02d-%s", idx, sanitize(label)))
	}
	var out []*ScenarioResult
	perRate := func(f func(rate float64) *ScenarioResult) {
		for _, rate := range r.cfg.Rates {
			if ctx.Err() != nil {
				return
			}
			out = append(out, f(rate))
		}
	}
	switch name {
	case "baseline":
		perRate(func(rate float64) *ScenarioResult {
			o := deliveryOpts{name: name, kind: kindBaseline, mode: modeUnicast, nodes: 1, rate: rate}
			return r.delivery(ctx, o, dir)
		})
	case "unicast":
		perRate(func(rate float64) *ScenarioResult {
			o := deliveryOpts{name: name, kind: kindHerald, mode: modeUnicast, nodes: r.nodes(1), rate: rate}
			return r.delivery(ctx, o, dir)
		})
	case "cluster":
		perRate(func(rate float64) *ScenarioResult {
			o := deliveryOpts{name: name, kind: kindHerald, mode: modeUnicast, nodes: r.nodes(3), rate: rate}
			return r.delivery(ctx, o, dir)
		})
		if ctx.Err() == nil {
			o := deliveryOpts{name: name, kind: kindHerald, mode: modeBroadcast, nodes: r.nodes(3)}
			out = append(out, r.delivery(ctx, o, dir))
		}
	case "baseline-broadcast":
		out = append(out, r.delivery(ctx, deliveryOpts{name: name, kind: kindBaseline, mode: modeBroadcast, nodes: 1}, dir))
	case "broadcast":
		out = append(out, r.delivery(ctx, deliveryOpts{name: name, kind: kindHerald, mode: modeBroadcast, nodes: r.nodes(1)}, dir))
	case "failover":
		rate := 1000.0
		if len(r.cfg.Rates) > 0 && r.cfg.Rates[0] > 0 {
			rate = r.cfg.Rates[0]
		}
		out = append(out, r.delivery(ctx, deliveryOpts{name: name, kind: kindHerald, mode: modeUnicast, nodes: max(2, r.nodes(2)), rate: rate, failover: true}, dir))
	case "connect":
		out = append(out, r.connectScenario(ctx, dir))
	case "idle":
		out = append(out, r.idleScenario(ctx, kindHerald, dir))
	case "baseline-idle":
		out = append(out, r.idleScenario(ctx, kindBaseline, dir))
	case "redis-memory":
		out = append(out, r.redisMemoryScenario(ctx, dir))
	}
	return out
}

// nodes is --nodes, or def when it was not given.
func (r *runner) nodes(def int) int {
	if len(r.cfg.Target) > 0 {
		return len(r.cfg.Target)
	}
	if r.cfg.Nodes > 0 {
		return r.cfg.Nodes
	}
	return def
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}

// newResult starts a scenario's result.
func (r *runner) newResult(name, label string, p Params) *ScenarioResult {
	r.logf("\n-- %s (load %.2f)", label, loadAvg()[0])
	return &ScenarioResult{Name: name, Label: label, Status: statusOK, Started: time.Now(), LoadAvgStart: loadAvg(), Params: p}
}

func (r *runner) finish(sr *ScenarioResult, err error) *ScenarioResult {
	sr.Finished = time.Now()
	sr.LoadAvgEnd = loadAvg()
	if err != nil && sr.Status == statusOK {
		sr.Status = statusFailed
		sr.Error = err.Error()
	}
	return sr
}

// clientGCPercent is the bench's own processes' GOGC (the clients and publishers;
// not the herald nodes nor the bare baseline server, which keep the runtime's
// default). The clients are the instrument: 10,000 of them in one process spent
// about 12 % of its CPU in GC, scanning their goroutine stacks, on the two cores
// the server under test shares with them. A larger heap target makes that GC rarer;
// the process's memory grows, which the bench does not measure. GOGC in the
// environment overrides it.
const clientGCPercent = 400

func instrumentGC(environ []string) {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GOGC=") {
			return
		}
	}
	debug.SetGCPercent(clientGCPercent)
}
