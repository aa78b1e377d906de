package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// herald health asks /readyz: exit 0 and the answer while the node is ready,
// found from --url, from --server.addr or from HERALD_SERVER__ADDR as the node
// has it; exit 1 naming the status on a 503, and on a port nobody listens on.
func TestHealthCommand(t *testing.T) {
	e := startEmbedded(t)
	ok := func(args, env []string) {
		t.Helper()
		var out, errOut bytes.Buffer
		if c := run(context.Background(), append([]string{"health"}, args...), env, &out, &errOut); c != 0 || !strings.Contains(out.String(), `"ready"`) {
			t.Errorf("health %v %v: exit %d, out %q, err %q", args, env, c, out.String(), errOut.String())
		}
	}
	ok([]string{"--url", "http://" + e.state.HTTPAddr + "/readyz"}, nil)
	ok([]string{"--server.addr", e.state.HTTPAddr}, nil)
	ok(nil, []string{"HERALD_SERVER__ADDR=" + e.state.HTTPAddr})
	// Set as the container sets it: a real Redis with its secret in the environment.
	ok(nil, []string{"HERALD_SERVER__ADDR=" + e.state.HTTPAddr, "HERALD_REDIS__ADDR=redis:6379", "HERALD_AUTH__HMAC_SECRET=" + testSecret})

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"unavailable","error":"redis: connection refused"}`))
	}))
	defer down.Close()
	var out, errOut bytes.Buffer
	if c := run(context.Background(), []string{"health", "--url", down.URL + "/readyz"}, nil, &out, &errOut); c != 1 ||
		!strings.Contains(errOut.String(), "answered 503") || !strings.Contains(errOut.String(), "connection refused") {
		t.Errorf("health of a 503: exit %d, err %q", c, errOut.String())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	errOut.Reset()
	if c := run(context.Background(), []string{"health", "--server.addr", closed, "--timeout", "1s"}, nil, &out, &errOut); c != 1 || !strings.Contains(errOut.String(), "herald: health:") {
		t.Errorf("health of a closed port: exit %d, err %q", c, errOut.String())
	}
}

func TestReadyzURL(t *testing.T) {
	for listen, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080/readyz",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/readyz",
		"[::]:8080":      "http://127.0.0.1:8080/readyz",
		"10.0.0.5:8080":  "http://10.0.0.5:8080/readyz",
		"[::1]:8080":     "http://[::1]:8080/readyz",
		"localhost:8081": "http://localhost:8081/readyz",
	} {
		if got, err := readyzURL(listen); err != nil || got != want {
			t.Errorf("readyzURL(%q) = %q, %v; want %q", listen, got, err, want)
		}
	}
}
