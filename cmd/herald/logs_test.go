package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/internal/loglimit"
	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
)

// loggedNode is a node in-process with the logger herald serve builds
// (newLogger: log.format, log.level, the limiter), writing to log.
type loggedNode struct {
	*testNode
	log      *testkit.SyncBuffer
	closeLog func()
}

func startLoggedNode(t *testing.T, srv *redistest.Server, flags ...string) *loggedNode {
	t.Helper()
	args := append([]string{"--redis.addr", srv.Addr, "--auth.hmac_secret", testSecret, "--server.addr", "127.0.0.1:0",
		"--streams.block", "200ms", "--node.id", "n1"}, flags...)
	cfg, err := config.Load(args, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &testkit.SyncBuffer{}
	log, closeLog := newLogger(cfg.Log, w)
	n, err := startNode(context.Background(), cfg, log, nodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ln := &loggedNode{testNode: &testNode{node: n, t: t, redis: srv}, log: w, closeLog: closeLog}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = n.Stop(ctx)
		closeLog()
		if t.Failed() {
			t.Logf("node log:\n%s", w.String())
		}
	})
	waitReady(t, ln.testNode)
	return ln
}

// lines are the node's JSON log lines with message msg.
func (n *loggedNode) lines(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(n.log.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// A dead letter is logged at info with its stream, id and reason; a flood of
// them is limited, and the rest is counted in one line.
func TestLogDeadLettersAndLimitAFlood(t *testing.T) {
	n := startLoggedNode(t, redistest.Start(t, redistest.Options{}), "--log.format", "json")
	id := xadd(t, n.testNode, "to", "alice") // no data
	testkit.Eventually(t, 10*time.Second, func() error {
		if len(n.lines("dead letter")) == 0 {
			return errorf("no dead letter line")
		}
		return nil
	})
	l := n.lines("dead letter")[0]
	if l["level"] != "INFO" || l["id"] != id || l["stream"] != "herald:in" || !strings.Contains(l["reason"].(string), "data") {
		t.Fatalf("dead letter line %v, want INFO with the stream, id %s and the reason", l, id)
	}
	const flood = 2000
	for range flood {
		xadd(t, n.testNode, "to", "alice")
	}
	testkit.Eventually(t, 20*time.Second, func() error {
		if m := metricValue(t, n.testNode, "herald_dead_letters_total"); m < flood+1 {
			return errorf("%v dead letters so far", m)
		}
		return nil
	})
	n.closeLog() // reports the count left
	logged := len(n.lines("dead letter"))
	if logged > 200 {
		t.Fatalf("%d dead letter lines for %d dead letters: the flood was not limited", logged, flood+1)
	}
	counted := 0
	for _, r := range n.lines(loglimit.SuppressedMsg) {
		if r["like"] == "dead letter" {
			counted += int(r["count"].(float64))
		}
	}
	if logged+counted != flood+1 {
		t.Fatalf("%d lines logged + %d counted as suppressed, want %d", logged, counted, flood+1)
	}
}

// With log.level debug, a session's open and close are logged with its user,
// device, session id, node and close code; text is the default format.
func TestLogSessionsAtDebug(t *testing.T) {
	n := startLoggedNode(t, redistest.Start(t, redistest.Options{}), "--log.level", "debug")
	c := connect(t, n.testNode, "alice", "device=phone")
	c.close()
	testkit.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(n.log.String(), `msg="session closed"`) {
			return errorf("no session closed line")
		}
		return nil
	})
	for _, want := range []string{`level=DEBUG msg="session opened"`, "user=alice device=phone", "node=n1", "code=1000", "by=client"} {
		if !strings.Contains(n.log.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}
