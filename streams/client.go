package streams

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// RedisConfig says which Redis to use.
type RedisConfig struct {
	Addr     string   // standalone
	Addrs    []string // several: Redis Cluster
	Username string
	Password string
	TLS      bool
	TLSCA    string // PEM CA file; "" = system roots
	// SentinelMaster set: the master the Sentinels at SentinelAddrs name, followed
	// across failovers; Addr and Addrs are then unused.
	SentinelMaster   string
	SentinelAddrs    []string
	SentinelUsername string // for the Sentinels themselves; Username is the master's
	SentinelPassword string
	// WaitTimeout is redis.wait_timeout when redis.wait_replicas is set: a
	// pipeline ending with WAIT must not hit the read deadline first.
	WaitTimeout time.Duration
}

// Connect opens a client for cfg: a ClusterClient for several addresses, a
// Sentinel failover client for a master name, a plain client otherwise. It checks
// the connection with PING.
func Connect(ctx context.Context, cfg RedisConfig) (redis.UniversalClient, error) {
	opts, err := clientOptions(cfg)
	if err != nil {
		return nil, err
	}
	c := newClient(cfg, opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		_ = c.Close()
		if cfg.SentinelMaster != "" {
			return nil, fmt.Errorf("streams: connect to redis master %q through sentinels %v: %w", cfg.SentinelMaster, opts.Addrs, err)
		}
		return nil, fmt.Errorf("streams: connect to redis %v: %w", opts.Addrs, err)
	}
	return c, nil
}

// clientOptions are the options every topology shares.
func clientOptions(cfg RedisConfig) (*redis.UniversalOptions, error) {
	opts := &redis.UniversalOptions{
		Addrs:    cfg.Addrs,
		Username: cfg.Username,
		Password: cfg.Password,
		// Blocking readers each pin a connection for up to streams.block; leave room.
		PoolSize: 64,
		// Sessions' commands are small; only pipelines (their own pool) need big
		// buffers. go-redis's 32 KiB default for both buffers of each of the 64
		// connections was about 4 MB, 400 B of every idle connection at 10,000.
		ReadBufferSize:          4 << 10,
		WriteBufferSize:         4 << 10,
		PipelineReadBufferSize:  64 << 10,
		PipelineWriteBufferSize: 64 << 10,
		MaxRetries:              2,
		MinRetryBackoff:         50 * time.Millisecond,
		MaxRetryBackoff:         500 * time.Millisecond,
		DialTimeout:             2 * time.Second,
		// Only the commands of RedisCommands: no CLIENT SETINFO or CLIENT
		// MAINT_NOTIFICATIONS on connect, which a least-privilege ACL user would be
		// denied (and Redis would log as ACL violations on every connection).
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if len(opts.Addrs) == 0 {
		opts.Addrs = []string{cfg.Addr}
	}
	if cfg.WaitTimeout > 0 {
		// go-redis reads a whole pipeline under one ReadTimeout (3 s by default),
		// whatever the WAIT in it may block for; past it the pipeline would fail.
		opts.ReadTimeout = max(3*time.Second, cfg.WaitTimeout+2*time.Second)
	}
	if cfg.TLS {
		tc, err := tlsConfig(cfg.TLSCA)
		if err != nil {
			return nil, err
		}
		opts.TLSConfig = tc
	}
	return opts, nil
}

// newClient picks the topology: Sentinel, Redis Cluster or one server.
func newClient(cfg RedisConfig, opts *redis.UniversalOptions) redis.UniversalClient {
	switch {
	case cfg.SentinelMaster != "":
		// A plain client whose dialer asks the Sentinels for the master and that
		// drops its connections on +switch-master: one connection per pipeline, as
		// standalone, which the router's WAIT relies on (ARCHITECTURE.md "WAIT for
		// replicas"). Not the failover cluster client: its reads may go to replicas.
		opts.Addrs = cfg.SentinelAddrs
		opts.MasterName = cfg.SentinelMaster
		opts.SentinelUsername = cfg.SentinelUsername
		opts.SentinelPassword = cfg.SentinelPassword
		return redis.NewFailoverClient(opts.Failover())
	case len(cfg.Addrs) > 0: // redis.addrs, even with one seed address, means Redis Cluster
		return newClusterClient(opts)
	default:
		return redis.NewClient(opts.Simple())
	}
}

// Embedded is the in-process Redis-compatible store of the zero-setup mode. It is not
// durable and serves one node only.
type Embedded struct {
	srv *miniredis.Miniredis
}

// StartEmbedded starts the embedded store on addr ("" or "127.0.0.1:0" for any port).
func StartEmbedded(addr string) (*Embedded, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	srv := miniredis.NewMiniRedis()
	if err := srv.StartAddr(addr); err != nil {
		return nil, fmt.Errorf("streams: start embedded store on %s: %w", addr, err)
	}
	return &Embedded{srv: srv}, nil
}

// Addr is where the embedded store listens.
func (e *Embedded) Addr() string { return e.srv.Addr() }

// Close stops it; what it held is gone.
func (e *Embedded) Close() { e.srv.Close() }

// isNoGroup tells a NOGROUP error: the stream or its group vanished (Redis restarted
// without persistence, or someone deleted the key) and must be created again.
// isNoGroup: the group is gone. Redis 7 answers a read that was blocked on a
// deleted stream with UNBLOCKED; the next read would say NOGROUP.
func isNoGroup(err error) bool {
	return err != nil && (redis.HasErrorPrefix(err, "NOGROUP") || redis.HasErrorPrefix(err, "UNBLOCKED the stream key"))
}

// isRefusal: Redis answered with an error it will give again for the same
// command (a wrong-type key, a missing permission): not an outage, not a network
// error, not one of isTransient's.
func isRefusal(err error) bool {
	var reply redis.Error
	return errors.As(err, &reply) && !isTransient(err) && !errors.Is(err, redis.Nil)
}

// isTransient: Redis refused a command for now (out of memory, loading its data,
// busy with a script, a cluster slot moving or down) rather than because of the
// command or its key.
func isTransient(err error) bool {
	for _, p := range []string{"OOM", "LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "READONLY"} {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}

// createGroup creates group on stream from its beginning, tolerating BUSYGROUP. From
// "0", not "$": publishers may have recreated the stream already and what they wrote
// must not be skipped.
func createGroup(ctx context.Context, c redis.Cmdable, stream, group string) error {
	err := c.XGroupCreateMkStream(ctx, stream, group, "0").Err()
	if err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") {
		return fmt.Errorf("streams: create group %s on %s: %w", group, stream, err)
	}
	return nil
}

// ErrStopped is returned by calls made after Stop.
var ErrStopped = errors.New("streams: stopped")

func tlsConfig(caFile string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("streams: redis.tls_ca_file: %w", err)
	}
	tc.RootCAs = x509.NewCertPool()
	if !tc.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("streams: redis.tls_ca_file %s holds no PEM certificate", caFile)
	}
	return tc, nil
}
