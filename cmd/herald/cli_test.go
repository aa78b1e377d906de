package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
)

// The README's first command: `herald serve` with no configuration, then `herald
// token` and `herald publish` with no flags, and a push reaching a WebSocket client.
func TestEmbeddedServeTokenPublish(t *testing.T) {
	dir := t.TempDir()
	env := []string{"HERALD_DEV_STATE=" + filepath.Join(dir, "dev.json")}
	ctx, cancel := context.WithCancel(context.Background())
	serveLog := &testkit.SyncBuffer{}
	var wg sync.WaitGroup
	wg.Add(1)
	code := -1
	go func() {
		defer wg.Done()
		code = run(ctx, []string{"serve", "--server.addr", "127.0.0.1:0", "--streams.block", "200ms"}, env, &bytes.Buffer{}, serveLog)
	}()
	defer func() {
		cancel()
		wg.Wait()
		if code != 0 {
			t.Errorf("serve exited %d: %s", code, serveLog.String())
		}
	}()
	var state config.DevState
	testkit.Eventually(t, 10*time.Second, func() error {
		var err error
		state, err = config.LoadOrCreateDevState(filepath.Join(dir, "dev.json"))
		if err == nil && state.HTTPAddr == "" {
			return errorf("no http addr yet")
		}
		return err
	})
	if fi, err := os.Stat(filepath.Join(dir, "dev.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("dev state file mode %v %v, want 0600", fi.Mode(), err)
	}

	var tok, out, errOut bytes.Buffer
	if c := run(ctx, []string{"token", "--user", "alice", "--ttl", "10m"}, env, &tok, &errOut); c != 0 {
		t.Fatalf("token: %d %s", c, errOut.String())
	}
	tn := &testNode{node: &node{}, t: t}
	client := &wsClient{t: t, frames: make(chan frame, 100), closed: make(chan struct{})}
	conn, _, err := gws.NewClient(client, &gws.ClientOption{Addr: "ws://" + state.HTTPAddr + "/ws?token=" + strings.TrimSpace(tok.String())})
	if err != nil {
		t.Fatalf("dial embedded node: %v", err)
	}
	client.conn = conn
	go conn.ReadLoop()
	defer client.close()
	_ = tn
	if f := client.next(5 * time.Second); f.str("type") != "welcome" {
		t.Fatalf("got %v", f)
	}
	if c := run(ctx, []string{"publish", "--to", "alice", `{"text":"hi"}`}, env, &out, &errOut); c != 0 {
		t.Fatalf("publish: %d %s", c, errOut.String())
	}
	p := client.pushes(1, 5*time.Second)[0]
	if p["data"].(map[string]any)["text"] != "hi" || p.str("id") != strings.TrimSpace(out.String()) {
		t.Fatalf("push %v, publish printed %q", p, out.String())
	}
	if !strings.Contains(serveLog.String(), "EMBEDDED MODE") {
		t.Fatalf("serve did not warn about the embedded mode: %s", serveLog.String())
	}
}

func TestCommandLineErrors(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	env := []string{"HERALD_DEV_STATE=" + filepath.Join(t.TempDir(), "dev.json")}
	cases := []struct {
		name string
		args []string
		env  []string
		code int
		want string
	}{
		{"unknown key in env", []string{"config"}, []string{"HERALD_REDIS__ADRR=x"}, 1, "redis.adrr"},
		{"bad value", []string{"config", "--history.size", "abc"}, nil, 1, "history.size"},
		{"real redis needs a secret", []string{"serve", "--redis.addr", srv.Addr}, nil, 1, "auth.hmac_secret"},
		{"token needs a user", []string{"token"}, nil, 1, "--user"},
		{"publish needs data", []string{"publish", "--redis.addr", srv.Addr, "--to", "alice"}, nil, 1, "DATA"},
		{"publish refuses bad data", []string{"publish", "--redis.addr", srv.Addr, "--to", "alice", "{no"}, nil, 1, "not JSON"},
		{"unknown command", []string{"frobnicate"}, nil, 2, "unknown command"},
		{"config masks secrets", []string{"config", "--auth.hmac_secret", "0123456789abcdef-secret"}, nil, 0, "****"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, append(env, tc.env...), &out, &errOut)
			all := out.String() + errOut.String()
			if code != tc.code || !strings.Contains(all, tc.want) {
				t.Fatalf("exit %d, output %q; want exit %d mentioning %q", code, all, tc.code, tc.want)
			}
			if strings.Contains(all, "0123456789abcdef-secret") {
				t.Fatalf("secret printed: %q", all)
			}
		})
	}
}

func TestServerPingsKeepQuietSessionsAndPongsStayWritable(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{},
		"--gateway.ping_timeout", "1500ms", "--gateway.write_timeout", "300ms")
	c := connect(t, n, "alice", "")
	time.Sleep(4 * time.Second) // over twice the ping timeout; the server's pings were answered
	if err := c.conn.WritePing(nil); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 2*time.Second, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.pongs == 0 {
			return errorf("no pong")
		}
		return nil
	})
	xadd(t, n, "to", "alice", "data", `{"seq":0}`)
	c.pushes(1, 5*time.Second)

	// A client that reads but never answers a ping is closed after the ping timeout.
	silent := &wsClient{t: t, frames: make(chan frame, 100), closed: make(chan struct{}), noPong: true}
	conn, _, err := gws.NewClient(silent, &gws.ClientOption{Addr: "ws://" + n.Addr() + "/ws?token=" + mint(t, "bob", "", time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	silent.conn = conn
	go conn.ReadLoop()
	t.Cleanup(silent.close)
	silent.closeCode(10 * time.Second)
	testkit.Eventually(t, 5*time.Second, func() error {
		if m := metricValue(t, n, "herald_idle_closes_total"); m != 1 {
			return errorf("herald_idle_closes_total = %v", m)
		}
		return nil
	})
}
