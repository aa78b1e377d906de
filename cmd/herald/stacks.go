package main

import (
	"os"
	"strings"
	"syscall"
)

// smallStacks is the GODEBUG setting a node runs with: new goroutines start with
// 2 KiB stacks instead of the average the runtime measured at the last GC. With
// thousands of connections parked in reads that average rounds up to 4 KiB, and
// every connection's read goroutine then holds 4 KiB where 2 suffice: 1.4 KiB more
// per idle connection (bench/RESULTS.md, "Idle").
const smallStacks = "adaptivestackstart=0"

// execWithSmallStacks re-executes a node with smallStacks added to GODEBUG, which
// the runtime reads only at start (//go:debug accepts only registered settings,
// and this one is not). It returns, and the node runs as it is, when GODEBUG
// already says anything about the setting or the exec fails.
func execWithSmallStacks(args []string) {
	if !servesNode(args) || strings.Contains(os.Getenv("GODEBUG"), "adaptivestackstart=") {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	env := make([]string, 0, len(os.Environ())+1)
	godebug := smallStacks
	for _, kv := range os.Environ() {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			if v != "" {
				godebug = v + "," + smallStacks
			}
			continue
		}
		env = append(env, kv)
	}
	_ = syscall.Exec(exe, append([]string{exe}, args...), append(env, "GODEBUG="+godebug))
}

// servesNode says whether the command line runs a node: `herald`, `herald serve`
// or `herald --flag ...`; or the bench's bare gws server, which holds the same
// connections and is compared with a node.
func servesNode(args []string) bool {
	if len(args) >= 2 && args[0] == "bench" && args[1] == "internal-baseline-server" {
		return true
	}
	return len(args) == 0 || args[0] == "serve" || strings.HasPrefix(args[0], "-")
}
