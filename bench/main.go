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
		stop, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	return r.run(ctx, append([]string{"herald", "bench"}, args...))
}

// startCPUProfile profiles this process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
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
