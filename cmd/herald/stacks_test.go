package main

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/herald-push/herald/streams/redistest"
)

// A node runs with small goroutine stacks: it re-executed itself with
// adaptivestackstart=0 (cmd/herald/stacks.go), keeping the PID it was started with.
func TestNodeRunsWithSmallGoroutineStacks(t *testing.T) {
	p := startProc(t, redisFlags(redistest.Start(t, redistest.Options{})), "stacks")
	env, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range strings.Split(string(env), "\x00") {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok && strings.Contains(v, smallStacks) {
			return
		}
	}
	t.Fatalf("the node's environment has no GODEBUG with %s", smallStacks)
}

func TestServesNode(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{nil, true},
		{[]string{"serve"}, true},
		{[]string{"--redis.addr", "x"}, true},
		{[]string{"bench", "internal-baseline-server", "--addr", "x"}, true},
		{[]string{"bench", "unicast"}, false},
		{[]string{"token", "alice"}, false},
		{[]string{"config"}, false},
	} {
		if got := servesNode(c.args); got != c.want {
			t.Errorf("servesNode(%q) = %v, want %v", c.args, got, c.want)
		}
	}
}
