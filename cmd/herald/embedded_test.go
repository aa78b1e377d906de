package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/internal/testkit"
)

// embeddedNode is `herald serve` in the embedded mode, run in-process by run as
// the README's tutorial runs it, with a dev state file of its own.
type embeddedNode struct {
	env   []string
	state config.DevState
	log   *testkit.SyncBuffer
}

// startEmbedded runs `herald serve` with flags on a free loopback port until the
// test ends, and waits until it saved its address.
func startEmbedded(t *testing.T, flags ...string) *embeddedNode {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dev.json")
	e := &embeddedNode{env: []string{"HERALD_DEV_STATE=" + path}, log: &testkit.SyncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	code := -1
	go func() {
		defer wg.Done()
		args := append([]string{"serve", "--server.addr", "127.0.0.1:0", "--streams.block", "200ms"}, flags...)
		code = run(ctx, args, e.env, &bytes.Buffer{}, e.log)
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if code != 0 {
			t.Errorf("serve exited %d: %s", code, e.log.String())
		}
	})
	testkit.Eventually(t, 10*time.Second, func() error {
		var err error
		e.state, err = config.LoadOrCreateDevState(path)
		if err == nil && e.state.HTTPAddr == "" {
			return errorf("no http addr yet")
		}
		return err
	})
	return e
}

// publish runs `herald publish` against the node.
func (e *embeddedNode) publish(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if c := run(context.Background(), append([]string{"publish"}, args...), e.env, &out, &errOut); c != 0 {
		t.Fatalf("publish %v: exit %d: %s", args, c, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

// postPublish is POST /v1/publish to addr with key, from the local address from.
func postPublish(t *testing.T, from net.IP, addr, key string) int {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: from}}).DialContext}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/publish", strings.NewReader(`{"to":"alice","data":{"text":"hi"}}`))
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// The embedded mode's dev API key publishes over HTTP out of the box, from this
// machine, and the start banner shows it in a curl command.
func TestEmbeddedPublishOverHTTPWithTheDevKey(t *testing.T) {
	e := startEmbedded(t)
	if len(e.state.APIKey) != 48 {
		t.Fatalf("dev state has no API key: %+v", e.state)
	}
	if !strings.Contains(e.log.String(), "Authorization: Bearer "+e.state.APIKey) {
		t.Fatalf("the start banner shows no curl with the dev key:\n%s", e.log.String())
	}
	loopback := net.ParseIP("127.0.0.1")
	if s := postPublish(t, loopback, e.state.HTTPAddr, e.state.APIKey); s != http.StatusAccepted {
		t.Fatalf("POST with the dev key: %d, want 202", s)
	}
	if s := postPublish(t, loopback, e.state.HTTPAddr, "wrong"); s != http.StatusUnauthorized {
		t.Fatalf("POST with a wrong key: %d, want 401", s)
	}
	// From another address of this machine, when it has one: refused.
	if ip := nonLoopbackIP(); ip != nil {
		e2 := startEmbedded(t, "--server.addr", net.JoinHostPort(ip.String(), "0"))
		if s := postPublish(t, ip, e2.state.HTTPAddr, e2.state.APIKey); s != http.StatusForbidden {
			t.Fatalf("POST with the dev key from %s: %d, want 403", ip, s)
		}
	}
}

// publish.api_key replaces the dev key, and works from any address.
func TestEmbeddedPublishOverHTTPWithAConfiguredKey(t *testing.T) {
	const key = "configured-key-0123456789"
	ip := nonLoopbackIP()
	if ip == nil {
		ip = net.ParseIP("127.0.0.1") // no other address here: loopback only
	}
	e := startEmbedded(t, "--server.addr", net.JoinHostPort(ip.String(), "0"), "--publish.api_key", key)
	if strings.Contains(e.log.String(), e.state.APIKey) {
		t.Fatalf("the banner shows the dev key though publish.api_key is set:\n%s", e.log.String())
	}
	if s := postPublish(t, ip, e.state.HTTPAddr, key); s != http.StatusAccepted {
		t.Fatalf("POST with publish.api_key from %s: %d, want 202", ip, s)
	}
	if s := postPublish(t, ip, e.state.HTTPAddr, e.state.APIKey); s != http.StatusUnauthorized {
		t.Fatalf("POST with the dev key while publish.api_key is set: %d, want 401", s)
	}
}

// nonLoopbackIP is an IPv4 address of this machine other than loopback, or nil.
func nonLoopbackIP() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP
		}
	}
	return nil
}

// The start banner shows each way to publish, with the embedded store's address
// in a redis-cli line a backend developer can paste.
func TestTryCommandsNameEveryWayToPublish(t *testing.T) {
	var all []string
	for _, c := range tryCommands("127.0.0.1:8080", "127.0.0.1:6399", "k3y") {
		all = append(all, c[0])
	}
	got := strings.Join(all, "\n")
	for _, want := range []string{"herald listen --user alice", "herald publish --to alice",
		"redis-cli -h 127.0.0.1 -p 6399 XADD herald:in '*' to alice data", "Bearer k3y", "/?user=alice&auto=1"} {
		if !strings.Contains(got, want) {
			t.Errorf("the banner lacks %q:\n%s", want, got)
		}
	}
}
