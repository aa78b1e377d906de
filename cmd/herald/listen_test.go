package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
)

// herald listen as an operator runs it: a process against a herald process. It
// prints the welcome and each push as a JSON line, resumes after the node is
// killed and restarted (the push published meanwhile arrives, replayed), and
// exits 0 on SIGINT, closing with 1000.
func TestListenPrintsResumesAndExitsOnSIGINT(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	p := startProc(t, redisFlags(srv), "n1")
	out, errOut := &testkit.SyncBuffer{}, &testkit.SyncBuffer{}
	cmd := exec.Command(heraldBinary.Path(t), "listen", "--user", "alice", "--url", "ws://"+p.addr+"/ws",
		"--redis.addr", srv.Addr, "--auth.hmac_secret", testSecret)
	cmd.Stdout, cmd.Stderr = out, errOut
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("listen stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
		}
	})

	waitLine(t, out, func(f frame) bool { return f.str("type") == "welcome" && f.str("user") == "alice" })
	xaddPush(t, rdb, "alice", `{"n":1}`)
	waitLine(t, out, func(f frame) bool { return isPush(f, 1) })

	p.kill()
	id := xaddPush(t, rdb, "alice", `{"n":2}`) // routed once the node is back
	p.start()
	waitLine(t, out, func(f frame) bool { return isPush(f, 2) && f.str("id") == id })
	for _, want := range []string{"disconnected (closed with 1006", "reconnecting", "connected: session"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
	if n := strings.Count(out.String(), `"type":"welcome"`); n != 2 {
		t.Errorf("%d welcome lines, want 2 (one per connection)", n)
	}

	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("listen exited with %v after SIGINT, want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("listen did not exit within 10 s of SIGINT")
	}
	if !strings.Contains(errOut.String(), "closed with 1000") {
		t.Fatalf("stderr does not say it closed with 1000:\n%s", errOut.String())
	}
}

// isPush reports whether f is the push with data {"n":n}.
func isPush(f frame, n int) bool {
	d, ok := f["data"].(map[string]any)
	return f.str("type") == "push" && ok && d["n"] == float64(n)
}

// waitLine waits until a line of w, read as JSON, matches.
func waitLine(t *testing.T, w *testkit.SyncBuffer, match func(frame) bool) {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, func() error {
		for _, line := range strings.Split(w.String(), "\n") {
			var f frame
			if json.Unmarshal([]byte(line), &f) == nil && match(f) {
				return nil
			}
		}
		return fmt.Errorf("no such line yet in:\n%s", w.String())
	})
}

// herald listen on the embedded node finds it and its dev secret without flags,
// subscribes to topics, acks, and returns 0 when its context ends.
func TestListenToTheEmbeddedNode(t *testing.T) {
	e := startEmbedded(t)
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &testkit.SyncBuffer{}, &testkit.SyncBuffer{}
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"listen", "--user", "alice", "--topic", "news", "--since", "0-0", "--device", "phone", "--ack"}, e.env, out, errOut)
	}()
	defer cancel()
	waitLine(t, out, func(f frame) bool { return f.str("type") == "subscribed" && f.str("topic") == "news" })
	e.publish(t, "--to", "alice", `{"n":1}`)
	e.publish(t, "--topic", "news", `{"n":2}`)
	waitLine(t, out, func(f frame) bool { return isPush(f, 1) && f.str("to") == "alice" })
	waitLine(t, out, func(f frame) bool { return isPush(f, 2) && f.str("topic") == "news" })
	// A backend's XADD to the embedded store, at the address the node printed.
	rdb := redis.NewClient(&redis.Options{Addr: e.state.RedisAddr})
	defer rdb.Close()
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "herald:in", Values: []any{"to", "alice", "data", `{"n":3}`}}).Err(); err != nil {
		t.Fatalf("XADD to the embedded store at %s: %v", e.state.RedisAddr, err)
	}
	waitLine(t, out, func(f frame) bool { return isPush(f, 3) && f.str("to") == "alice" })
	cancel()
	select {
	case c := <-code:
		if c != 0 || !strings.Contains(errOut.String(), "closed with 1000") {
			t.Fatalf("listen exited %d, stderr:\n%s", c, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("listen did not return")
	}
}
