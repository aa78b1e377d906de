package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/streams/redistest"
)

// streamNodeLine is what the node's log line about stream-node-max-bytes holds.
const streamNodeLine = "stream-node-max-bytes"

// A node on a Redis that keeps the default stream-node-max-bytes says so once at
// start, with what each recipient's history costs, and not again at the periodic
// checks; on the recommended value, and where CONFIG is refused, it says nothing
// and starts as usual.
func TestNodeLogsTheDefaultStreamNodeSizeOnce(t *testing.T) {
	def := redistest.Start(t, redistest.Options{Args: []string{"--stream-node-max-bytes", "4096"}})
	a := mustStartOpsNode(t, def, nodeOptions{redisCheckEvery: 20 * time.Millisecond}, "--node.id", "a")
	time.Sleep(200 * time.Millisecond) // several periodic checks
	if n := a.lines(streamNodeLine); n != 1 {
		t.Fatalf("%d log lines about %s, want 1:\n%s", n, streamNodeLine, a.log.String())
	}
	line := a.log.String()
	for _, want := range []string{"default stream-node-max-bytes", "takes at least 4401 B", "1024 would take about 1329 B",
		"history_bytes_per_recipient=4401", "recommended=1024", "redis=" + def.Addr} {
		if !strings.Contains(line, want) {
			t.Errorf("log lacks %q:\n%s", want, line)
		}
	}

	rec := mustStartOpsNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{}, "--node.id", "b")
	// As managed services do: CONFIG renamed away, on a Redis with the default.
	managed := redistest.Start(t, redistest.Options{Args: []string{"--stream-node-max-bytes", "4096", "--rename-command", "CONFIG", ""}})
	if err := managed.Client(t).ConfigGet(context.Background(), "stream-node-max-bytes").Err(); err == nil {
		t.Fatal("CONFIG still answers on the managed-like Redis")
	}
	noConfig := mustStartOpsNode(t, managed, nodeOptions{}, "--node.id", "c")
	for _, n := range []*opsNode{rec, noConfig} {
		if c := n.lines(streamNodeLine); c != 0 {
			t.Errorf("node %s: %d lines about %s:\n%s", n.cfg.Node.ID, c, streamNodeLine, n.log.String())
		}
	}
}
