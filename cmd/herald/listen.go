package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/herald-push/herald/client"
	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/gateway/auth"
)

// listenAbout is what `herald listen --help` says the command does.
const listenAbout = `Connects to a node as a user with the Go client and prints every frame it
receives (welcome, push, recovered, subscribed, error) as one JSON line on
stdout; connection changes go to stderr. It reconnects after a drop, resuming
after the newest offset seen, and stops on Ctrl-C (SIGINT) or SIGTERM, closing
with 1000. Without --token it mints a token for --user with auth.hmac_secret, or
in the embedded mode with the dev secret of herald serve, whose address it also
finds.`

// listenFlags are the options of `herald listen`.
type listenFlags struct {
	user, since, device, token, url *string
	topics                          *[]string
	ack                             *bool
}

func defineListenFlags(l *config.Loader) listenFlags {
	fs := l.Flags()
	return listenFlags{
		user:   fs.String("user", "", "user id to connect as (the token's sub); required unless --token"),
		since:  fs.String("since", "", "resume after this offset, on the user stream and each --topic (0-0: the whole history)"),
		topics: fs.StringArray("topic", nil, "subscribe to this topic (repeat for more)"),
		device: fs.String("device", "", "device name: the token's device claim, and whose cursor --ack moves"),
		ack:    fs.Bool("ack", false, "acknowledge every push (with a device, that stores the device's cursor)"),
		token:  fs.String("token", "", "token to connect with (default: mint one for --user)"),
		url:    fs.String("url", "", "WebSocket URL (default: the embedded node's, else ws://127.0.0.1:8080/ws)"),
	}
}

// listen is `herald listen --user alice`: a client that prints what it receives.
func listen(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	l := config.NewLoader("herald listen")
	f := defineListenFlags(l)
	cfg, err := l.Load(args, withPlaceholderSecret(environ))
	if err != nil {
		return helpOr(err, stdout, "herald listen --user ID [--since OFFSET] [--topic NAME]... [--device NAME] [--ack] [--token JWT] [--url URL]", listenAbout, l)
	}
	if len(l.Flags().Args()) > 0 {
		return fmt.Errorf("listen: takes no arguments, got %q", l.Flags().Args())
	}
	ccfg, err := f.clientConfig(cfg, environ)
	if err != nil {
		return err
	}
	p := &printer{out: json.NewEncoder(stdout), log: stderr, url: ccfg.URLs[0], closed: make(chan error, 1)}
	p.out.SetEscapeHTML(false)
	p.attach(&ccfg)
	c, err := client.Dial(ctx, ccfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before the first connection: Ctrl-C while waiting
		}
		return fmt.Errorf("listen: %s", closeReason(err))
	}
	for _, t := range *f.topics {
		if err := c.Subscribe(t, *f.since); err != nil {
			_ = c.Close()
			return fmt.Errorf("listen: subscribe %s: %w", t, err)
		}
	}
	return p.wait(ctx, c)
}

// clientConfig is the client's configuration from the flags: where to connect,
// and the token for each connection.
func (f listenFlags) clientConfig(cfg config.Config, environ []string) (client.Config, error) {
	if *f.user == "" && *f.token == "" {
		return client.Config{}, errors.New("listen: --user is required (or give --token)")
	}
	url := *f.url
	if url == "" {
		url = defaultListenURL(cfg, environ)
	}
	ccfg := client.Config{URLs: []string{url}, Device: *f.device, Since: *f.since, AutoAck: *f.ack}
	if *f.token != "" {
		tok := *f.token
		ccfg.Token = func(context.Context) (string, error) { return tok, nil }
		return ccfg, nil
	}
	secret, err := listenSecret(cfg, environ)
	if err != nil {
		return client.Config{}, err
	}
	claims := auth.Claims{User: *f.user, Device: *f.device}
	ccfg.Token = func(context.Context) (string, error) {
		now := time.Now()
		c := claims
		c.Expiry = now.Add(time.Hour) // minted again for every connection: a 4001 gets a fresh one
		return auth.MintWith([]byte(secret), c, now, auth.MintOptions{Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience})
	}
	return ccfg, nil
}

// listenSecret is the secret to mint with: auth.hmac_secret, or in the embedded
// mode the dev secret. withPlaceholderSecret's value means none was given.
func listenSecret(cfg config.Config, environ []string) (string, error) {
	if cfg.Auth.HMACSecret == placeholderSecret {
		if !cfg.Embedded() {
			return "", errors.New("listen: give --token, or auth.hmac_secret to mint one")
		}
		cfg.Auth.HMACSecret = ""
	}
	return tokenSecret(cfg, environ)
}

// defaultListenURL is the embedded node's WebSocket URL when the dev state knows
// one (and no Redis is configured), else a node on this machine's default port.
func defaultListenURL(cfg config.Config, environ []string) string {
	if cfg.Embedded() {
		if path, err := config.DevStatePath(environ); err == nil {
			if st, err := config.LoadOrCreateDevState(path); err == nil && st.HTTPAddr != "" {
				return "ws://" + st.HTTPAddr + "/ws"
			}
		}
	}
	return "ws://127.0.0.1:8080/ws"
}
