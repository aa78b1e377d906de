package client_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
	"go.uber.org/goleak"

	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
)

// This file runs real herald processes against a real redis-server, for the
// integration tests of client_test.go; the faster tests use fakeNode.

const secret = "client-test-secret-0123456789"

// herald is the herald binary the tests run, built on first use (the fuzz target
// in this package needs none, and its workers start the test binary again and
// again).
var herald testkit.Herald

func TestMain(m *testing.M) {
	logging.Disable()
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	defer herald.Remove()
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

// node is a herald process.
type node struct {
	t      *testing.T
	id     string
	addr   string
	args   []string
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *testkit.SyncBuffer
}

// startNode runs `herald serve` on a free loopback port against redis, and waits
// until /readyz answers 200.
func startNode(t *testing.T, rs *redistest.Server, id string, extra ...string) *node {
	t.Helper()
	n := &node{t: t, id: id, addr: testkit.FreeAddr(t), log: &testkit.SyncBuffer{}}
	n.args = append([]string{"serve",
		"--redis.addr", rs.Addr, "--auth.hmac_secret", secret, "--server.addr", n.addr,
		"--node.id", id, "--streams.block", "200ms", "--streams.lease_ttl", "1s",
		"--shutdown.timeout", "5s", "--log.level", "warn",
	}, extra...)
	t.Cleanup(n.kill)
	n.start()
	return n
}

func (n *node) start() {
	n.t.Helper()
	cmd := exec.Command(herald.Path(n.t), n.args...)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = n.log, n.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("start herald: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	n.mu.Lock()
	n.cmd, n.exited = cmd, exited
	n.mu.Unlock()
	testkit.Eventually(n.t, 15*time.Second, func() error {
		select {
		case <-exited:
			n.t.Fatalf("herald %s exited: %s", n.id, n.log)
		default:
		}
		req, err := http.NewRequest(http.MethodGet, "http://"+n.addr+"/readyz", nil)
		if err != nil {
			return err
		}
		req.Close = true // no idle keep-alive connection (and its goroutines) left behind
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(res.Body)
			return fmt.Errorf("readyz %d %s", res.StatusCode, b)
		}
		return nil
	})
}

// kill ends the process with SIGKILL: no drain, no close frames.
func (n *node) kill() {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// term sends SIGTERM (drain) and waits for the process to exit.
func (n *node) term() {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.cmd = nil
	n.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	<-exited
}

func (n *node) url() string { return "ws://" + n.addr + "/ws" }

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			env = append(env, kv)
		}
	}
	return env
}

func mint(t *testing.T, user string, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.Mint([]byte(secret), auth.Claims{User: user, Expiry: time.Now().Add(ttl)}, time.Now())
	if err != nil {
		t.Error(err)
	}
	return tok
}

// publish appends a user push to the ingress stream, as a service does; extra
// fields (e.g. "id", "x") are added. It returns the ingress entry id.
func publish(t *testing.T, rdb *redis.Client, to string, n int, extra ...any) string {
	t.Helper()
	values := append([]any{"to", to, "data", fmt.Sprintf(`{"n":%d}`, n)}, extra...)
	id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: "herald:in", Values: values}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// publishTopic appends a topic push.
func publishTopic(t *testing.T, rdb *redis.Client, topic string, n int) {
	t.Helper()
	if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: "herald:in", Values: []any{"topic", topic, "data", fmt.Sprintf(`{"n":%d}`, n)}}).Err(); err != nil {
		t.Fatal(err)
	}
}

// waitRouted waits until the routers acknowledged every ingress entry, so that a
// kill does not leave one pending (it would be reclaimed later, out of order).
func waitRouted(t *testing.T, rdb *redis.Client) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, func() error {
		p, err := rdb.XPending(context.Background(), "herald:in", "router").Result()
		if err != nil {
			return err
		}
		if p.Count != 0 {
			return fmt.Errorf("%d ingress entries pending", p.Count)
		}
		return nil
	})
}
