package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/internal/loglimit"
	"github.com/herald-push/herald/streams"
)

// serveAbout is what `herald serve --help` says the command does.
const serveAbout = `Runs a node until SIGINT or SIGTERM, then drains it (shutdown.timeout).
With no redis.addr, redis.addrs or redis.sentinel.master it runs one node on an
embedded store, not durable, with a demo page at / and a dev token secret and
publish API key kept for herald token, herald publish and herald listen.`

func serve(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	l := config.NewLoader("herald serve")
	cfg, err := l.Load(args, environ)
	if err != nil {
		return helpOr(err, stdout, "herald serve [flags]", serveAbout, l)
	}
	if rest := l.Flags().Args(); len(rest) > 0 && !(len(rest) == 1 && rest[0] == "serve") {
		return fmt.Errorf("serve takes no arguments, got %q", strings.Join(rest, " "))
	}
	log, closeLog := newLogger(cfg.Log, stderr)
	defer closeLog()
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
	opts := nodeOptions{demo: dev != nil, embedded: dev != nil}
	if dev != nil && cfg.Publish.APIKey == "" {
		opts.devAPIKey = dev.state.APIKey
	}
	n, err := startNode(ctx, cfg, log, opts)
	if err != nil {
		return err
	}
	log.Info("herald node started", "node", cfg.Node.ID, "addr", n.Addr(), "redis", redisDesc(cfg, dev != nil))
	if dev != nil {
		dev.announce(log, stderr, cfg.Log.Format == "json", n.Addr(), opts.devAPIKey)
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
	if err == nil {
		state, err = state.WithAPIKey() // saved by announce
	}
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

// announce saves the dev state with the address to dial and tells how to try
// the node; apiKey is the dev key of POST /v1/publish ("" when publish.api_key
// is set). With text logs the commands are a plain block on w, to be copied as
// they are (a log line would quote them); with JSON logs they are attributes.
func (d *devMode) announce(log *slog.Logger, w io.Writer, jsonLogs bool, httpAddr, apiKey string) {
	if host, port, err := net.SplitHostPort(httpAddr); err == nil {
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			httpAddr = net.JoinHostPort("localhost", port) // what a user on this machine dials
		}
	}
	d.state.HTTPAddr = httpAddr
	if err := config.SaveDevState(d.path, d.state); err != nil {
		log.Warn("cannot save dev state; herald token/publish/listen will need flags", "path", d.path, "err", err)
	}
	log.Warn("EMBEDDED MODE: single node, NOT durable; everything is lost when this process exits. " +
		"Set redis.addr (or redis.addrs) to use a real Redis.")
	try := tryCommands(httpAddr, d.state.RedisAddr, apiKey)
	if jsonLogs {
		args := make([]any, 0, 2*len(try))
		for _, c := range try {
			args = append(args, c[1], c[0])
		}
		log.Info("try it", args...)
		return
	}
	fmt.Fprintln(w, "\nTry it:")
	for _, c := range try {
		fmt.Fprintf(w, "  %s\n      %s\n", c[1], c[0])
	}
	fmt.Fprintln(w)
}

// tryCommands are the first things to do with an embedded node: a command and
// what it does.
func tryCommands(httpAddr, redisAddr, apiKey string) [][2]string {
	try := [][2]string{
		{"http://" + httpAddr + "/?user=alice&auto=1", "the demo page, signed in as alice and subscribed to news without a click"},
		{"herald listen --user alice", "print alice's frames as JSON lines"},
		{`herald publish --to alice '{"text":"hi"}'`, "publish a push to alice"},
	}
	if host, port, err := net.SplitHostPort(redisAddr); err == nil {
		try = append(try, [2]string{"redis-cli -h " + host + " -p " + port + ` XADD herald:in '*' to alice data '{"text":"hi"}'`,
			"publish as a backend does: append to the ingress stream of the embedded store"})
	}
	if apiKey != "" {
		try = append(try, [2]string{"curl http://" + httpAddr + "/v1/publish -H 'Authorization: Bearer " + apiKey +
			`' -d '{"to":"alice","data":{"text":"hi"}}'`, "publish over HTTP, from this machine (dev API key)"})
	}
	return try
}

func (d *devMode) close() {
	d.store.Close()
}

// newLogger is the node's logger: log.format and log.level, with every kind of
// line (its message) limited by loglimit, so that a flood of dead letters or of
// sessions costs a few lines and a count. The caller calls close last: it logs
// the counts not reported yet.
func newLogger(c config.Log, w io.Writer) (log *slog.Logger, close func()) {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // config checked it
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if c.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	limited := loglimit.New(h, loglimit.Config{})
	return slog.New(limited), limited.Close
}
