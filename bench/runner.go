package bench

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"
)

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

// run runs every scenario of the configuration in turn, printing and saving the
// results after each, then judges the targets and writes the report.
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
	failed := r.runAll(ctx)
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

// runAll runs the scenarios until the end or until ctx is done, and returns how
// many runs failed. results.json is rewritten after each run, so that an
// interrupted series keeps what it measured.
func (r *runner) runAll(ctx context.Context) (failed int) {
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
	return failed
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

// shortCommit is a commit's first 12 characters, marked when the tree had changes.
func shortCommit(c string, modified bool) string {
	if len(c) > 12 {
		c = c[:12]
	}
	if modified {
		c += "+modified"
	}
	return c
}

// newResult starts a scenario's result.
func (r *runner) newResult(name, label string, p Params) *ScenarioResult {
	r.logf("\n-- %s (load %.2f)", label, loadAvg()[0])
	return &ScenarioResult{Name: name, Label: label, Status: statusOK, Started: time.Now(), LoadAvgStart: loadAvg(), Params: p}
}

// finish ends a scenario's result; an error fails a run that had not otherwise
// ended (not_supported keeps its status).
func (r *runner) finish(sr *ScenarioResult, err error) *ScenarioResult {
	sr.Finished = time.Now()
	sr.LoadAvgEnd = loadAvg()
	if err != nil && sr.Status == statusOK {
		sr.Status = statusFailed
		sr.Error = err.Error()
	}
	return sr
}
