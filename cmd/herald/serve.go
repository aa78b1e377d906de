package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/spf13/pflag"

	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/streams"
)

func serve(ctx context.Context, args, environ []string, stderr io.Writer) error {
	l := config.NewLoader("herald serve")
	cfg, err := l.Load(args, environ)
	if errors.Is(err, pflag.ErrHelp) {
		fmt.Fprint(stderr, "Usage: herald serve [flags]\n\n"+l.Flags().FlagUsages())
		return err
	}
	if err != nil {
		return err
	}
	if rest := l.Flags().Args(); len(rest) > 0 && !(len(rest) == 1 && rest[0] == "serve") {
		return fmt.Errorf("serve takes no arguments, got %q", strings.Join(rest, " "))
	}
	log := newLogger(cfg.Log, stderr)
	var dev *devMode
	if cfg.Embedded() {
		if dev, err = startDevMode(&cfg, environ); err != nil {
			return err
		}
		defer dev.close()
	}
	stopPprof, err := startPprof(cfg.Debug.PprofAddr, log)
	if err != nil {
		return err
	}
	defer stopPprof()
	n, err := startNode(ctx, cfg, log, nodeOptions{demo: dev != nil, embedded: dev != nil})
	if err != nil {
		return err
	}
	log.Info("herald node started", "node", cfg.Node.ID, "addr", n.Addr(), "redis", redisDesc(cfg, dev != nil))
	if dev != nil {
		dev.announce(log, n.Addr())
	}
	select {
	case <-ctx.Done():
		log.Info("draining", "timeout", cfg.Shutdown.Timeout)
	case <-n.served:
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.Shutdown.Timeout)
	defer cancel()
	err = n.Stop(stopCtx)
	log.Info("herald node stopped", "node", cfg.Node.ID)
	return err
}

func redisDesc(cfg config.Config, embedded bool) string {
	switch {
	case embedded:
		return "embedded store at " + cfg.Redis.Addr
	case len(cfg.Redis.Addrs) > 0:
		return "cluster " + strings.Join(cfg.Redis.Addrs, ",")
	}
	return cfg.Redis.Addr
}

// devMode is the zero-setup mode: an embedded store and a dev secret kept in a 0600
// file, so that `herald token` and `herald publish` work without flags.
type devMode struct {
	store *streams.Embedded
	path  string
	state config.DevState
}

func startDevMode(cfg *config.Config, environ []string) (*devMode, error) {
	path, err := config.DevStatePath(environ)
	if err != nil {
		return nil, err
	}
	state, err := config.LoadOrCreateDevState(path)
	if err != nil {
		return nil, err
	}
	if cfg.Auth.HMACSecret == "" {
		cfg.Auth.HMACSecret = state.Secret
	}
	store, err := streams.StartEmbedded("")
	if err != nil {
		return nil, err
	}
	cfg.Redis.Addr = store.Addr()
	state.RedisAddr = store.Addr()
	return &devMode{store: store, path: path, state: state}, nil
}

func (d *devMode) announce(log *slog.Logger, httpAddr string) {
	if host, port, err := net.SplitHostPort(httpAddr); err == nil {
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			httpAddr = net.JoinHostPort("localhost", port) // what a user on this machine dials
		}
	}
	d.state.HTTPAddr = httpAddr
	if err := config.SaveDevState(d.path, d.state); err != nil {
		log.Warn("cannot save dev state; herald token/publish will need flags", "path", d.path, "err", err)
	}
	log.Warn("EMBEDDED MODE: single node, NOT durable; everything is lost when this process exits. " +
		"Set redis.addr (or redis.addrs) to use a real Redis.")
	log.Info("try it: TOKEN=$(herald token --user alice); websocat \"ws://" + httpAddr + "/ws?token=$TOKEN\"; " +
		"then: herald publish --to alice '{\"text\":\"hi\"}'")
}

func (d *devMode) close() {
	d.store.Close()
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
