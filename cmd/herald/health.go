package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/herald-push/herald/config"
)

// healthAbout is what `herald health --help` says the command does.
const healthAbout = `Asks a node's /readyz and exits 0 when it answers 200, 1 otherwise, printing
the answer. The container image's HEALTHCHECK runs it: the image has no shell or
curl. Without --url it asks /readyz at server.addr (from the same HERALD_*
variables, --config file and flags as the node), on 127.0.0.1 when that
address has no host.`

// health checks a node's readiness: `herald health [--url URL] [--timeout 3s]`.
func health(ctx context.Context, args, environ []string, stdout io.Writer) error {
	l := config.NewLoader("herald health")
	fs := l.Flags()
	url := fs.String("url", "", "URL to ask (default: /readyz at server.addr)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	cfg, err := l.Load(args, withPlaceholderSecret(environ))
	if err != nil {
		return helpOr(err, stdout, "herald health [--url URL] [--timeout 3s]", healthAbout, l)
	}
	target := *url
	if target == "" {
		if target, err = readyzURL(cfg.Server.Addr); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	body = bytes.TrimSpace(body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %d: %s", target, res.StatusCode, body)
	}
	_, err = fmt.Fprintf(stdout, "%s\n", body)
	return err
}

// readyzURL is /readyz at a listen address: an empty or unspecified host (":8080",
// "0.0.0.0:8080", "[::]:8080") is asked on 127.0.0.1.
func readyzURL(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("health: server.addr %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}
