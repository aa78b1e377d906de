package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/streams"
)

// token prints a signed token: `herald token --user alice [--ttl 1h] [--device phone]`.
func token(args, environ []string, stdout io.Writer) error {
	l := config.NewLoader("herald token")
	fs := l.Flags()
	user := fs.String("user", "", "user id (the token's sub claim), required")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	device := fs.String("device", "", "device name (the device claim)")
	topics := fs.StringSlice("topics", nil, "topics the session is subscribed to from the start")
	keyFile := fs.String("key", "", "PEM private key file: sign with RS256, ES256 or EdDSA (by the key's type) instead of HS256")
	kid := fs.String("kid", "", "key id (kid) to put in the token's header, with --key")
	cfg, err := l.Load(args, environ)
	if err != nil {
		return helpOr(err, stdout, "herald token --user ID [--ttl 1h] [--device NAME] [--topics a,b] [--key FILE.pem [--kid ID]]",
			"Prints an HS256 token for user ID, signed with auth.hmac_secret, or in the\nembedded mode with the dev secret herald serve uses. With --key, signs with\nthat private key instead. The token carries auth.issuer and auth.audience\nwhen they are set.", l)
	}
	if *user == "" {
		return errors.New("token: --user is required")
	}
	if *ttl <= 0 {
		return errors.New("token: --ttl must be positive")
	}
	key, err := signingKey(cfg, environ, *keyFile)
	if err != nil {
		return err
	}
	now := time.Now()
	tok, err := auth.MintWith(key, auth.Claims{User: *user, Device: *device, Topics: *topics, Expiry: now.Add(*ttl)}, now,
		auth.MintOptions{Kid: *kid, Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience})
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// signingKey is the private key of keyFile when given, else the HS256 secret.
func signingKey(cfg config.Config, environ []string, keyFile string) (any, error) {
	if keyFile == "" {
		secret, err := tokenSecret(cfg, environ)
		return []byte(secret), err
	}
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("token: --key: %w", err)
	}
	key, err := auth.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("token: --key %s: %w", keyFile, err)
	}
	return key, nil
}

// tokenSecret is auth.hmac_secret, or in the embedded mode the dev secret that
// `herald serve` uses too.
func tokenSecret(cfg config.Config, environ []string) (string, error) {
	if cfg.Auth.HMACSecret != "" {
		return cfg.Auth.HMACSecret, nil
	}
	path, err := config.DevStatePath(environ)
	if err != nil {
		return "", err
	}
	st, err := config.LoadOrCreateDevState(path)
	if err != nil {
		return "", err
	}
	return st.Secret, nil
}

// publish appends one push: `herald publish --to alice '{"text":"hi"}'`.
func publish(ctx context.Context, args, environ []string, stdout io.Writer) error {
	l := config.NewLoader("herald publish")
	fs := l.Flags()
	to := fs.String("to", "", "user id to push to")
	topic := fs.String("topic", "", "topic to push to")
	id := fs.String("id", "", "message id (idempotency key)")
	from := fs.String("from", "", "sender's user id")
	ttl := fs.Int64("ttl", 0, "seconds after which the message is neither delivered nor replayed")
	cfg, err := l.Load(args, withPlaceholderSecret(environ))
	if err != nil {
		return helpOr(err, stdout, "herald publish (--to ID | --topic NAME) [--id ID] [--from ID] DATA",
			"Appends one push with DATA (a JSON value) to the ingress stream and prints the\nentry id. Without redis.addr it finds the embedded node herald serve runs.", l)
	}
	data := fs.Args()
	if len(data) != 1 {
		return errors.New(`publish: give exactly one DATA argument, a JSON value like '{"text":"hi"}'`)
	}
	embedded := cfg.Embedded()
	if embedded {
		if cfg.Redis.Addr, err = embeddedAddr(environ); err != nil {
			return err
		}
	}
	rdb, err := streams.Connect(ctx, redisConfig(cfg))
	if err != nil && embedded {
		return fmt.Errorf("publish: no embedded node answers at %s: start `herald serve` first, or give --redis.addr", cfg.Redis.Addr)
	}
	if err != nil {
		return err
	}
	defer rdb.Close()
	pub := streams.NewPublisher(rdb, streams.NewKeys(cfg.Redis.Prefix, cfg.Streams.Partitions), cfg.Limits.MaxPayloadBytes, nil)
	pub.WaitReplicas(cfg.Redis.WaitReplicas, cfg.Redis.WaitTimeout)
	entry, err := pub.Publish(ctx, streams.Publication{To: *to, Topic: *topic, Data: []byte(data[0]), ID: *id, From: *from, TTL: *ttl})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	fmt.Fprintln(stdout, entry)
	return nil
}

// placeholderSecret stands for "no auth.hmac_secret given" where a command loads
// a configuration for a real Redis without needing the secret.
const placeholderSecret = "unused-by-herald-publish"

// withPlaceholderSecret lets publish and listen load a configuration for a real Redis without
// the token secret, which publishing does not use.
func withPlaceholderSecret(environ []string) []string {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "HERALD_AUTH__HMAC_SECRET=") {
			return environ
		}
	}
	return append(environ[:len(environ):len(environ)], "HERALD_AUTH__HMAC_SECRET="+placeholderSecret)
}

func embeddedAddr(environ []string) (string, error) {
	path, err := config.DevStatePath(environ)
	if err != nil {
		return "", err
	}
	st, err := config.LoadOrCreateDevState(path)
	if err != nil {
		return "", err
	}
	if st.RedisAddr == "" {
		return "", errors.New("publish: no embedded node found: start `herald serve` first, or give --redis.addr")
	}
	return st.RedisAddr, nil
}

// showConfig prints the effective configuration, secrets masked; --keys lists every
// key with its default, environment variable and flag, and --reference prints
// docs/CONFIGURATION.md.
func showConfig(args, environ []string, stdout io.Writer) error {
	l := config.NewLoader("herald config")
	keys := l.Flags().Bool("keys", false, "list every configuration key instead")
	parts := l.Flags().Bool("partitions", false, "list the ingress stream of each partition (streams.partitions) instead")
	ref := l.Flags().Bool("reference", false, "print the configuration reference, docs/CONFIGURATION.md, as Markdown instead")
	cfg, err := l.Load(args, environ)
	if err != nil {
		return helpOr(err, stdout, "herald config [--keys | --partitions | --reference] [flags]",
			"Prints the effective configuration as YAML, secrets masked.", l)
	}
	if *ref {
		return config.Reference(stdout)
	}
	if *parts {
		k := streams.NewKeys(cfg.Redis.Prefix, cfg.Streams.Partitions)
		for p := 0; p < k.Partitions(); p++ {
			fmt.Fprintf(stdout, "%d\t%s\n", p, k.Ingress(p))
		}
		return nil
	}
	if *keys {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tDEFAULT\tENVIRONMENT\tFLAG\tMEANING")
		for _, k := range config.Keys() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Name, k.Default, k.Env, k.Flag, k.Help)
		}
		return tw.Flush()
	}
	out, err := cfg.Masked().YAML()
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}
