package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"
)

// Backoff bounds the delays between reconnection attempts. The n-th delay after a
// failure is random in [0, min(Max, Min*2^n)] ("full jitter").
type Backoff struct {
	Min time.Duration // default 100 ms
	Max time.Duration // default 5 s; also the bound of the random delay after a 1001
}

// Config configures a Client. URLs and Token are required.
type Config struct {
	// URLs of the nodes' WebSocket endpoint, e.g. "ws://127.0.0.1:8080/ws" or
	// "wss://push.example.com/ws". The first connection goes to URLs[0]; every
	// reconnection attempt goes to the next one, round robin.
	URLs []string
	// Token returns the JWT for a connection. It is called before every connection
	// attempt, so after a 4001 (token expired) it must return a fresh one. ctx ends
	// when the client is closed. It is sent as "Authorization: Bearer <jwt>".
	Token func(ctx context.Context) (string, error)
	// Device is sent as ?device= (used by the node when the token has no device
	// claim): acks are then stored as this device's cursor.
	Device string
	// Since is the offset of the user stream the first connection resumes after,
	// as a reconnection resumes after the newest offset seen: "0-0" replays the
	// whole history. Empty: the node decides (the device's cursor, else live).
	Since string

	// OnPush receives every push once (duplicates by message id dropped), in the
	// order the node sent them.
	OnPush func(Push)
	// OnRecovered is called when a replay from history ends; complete is false when
	// history no longer held everything after the offset the client resumed from.
	// Exactly one of to and topic is set.
	OnRecovered func(to, topic string, complete bool)
	// OnState reports connection state changes; see State.
	OnState func(State, error)
	// OnWelcome receives every connection's welcome frame, before OnState reports
	// Connected: the session, the node, and where the session's user stream starts.
	OnWelcome func(Welcome)
	// OnSubscribed receives the node's answer to a subscription (Subscribe, and
	// the resubscriptions after a reconnection): the topic and the offset where it
	// starts.
	OnSubscribed func(topic, offset string)
	// OnError receives the node's error frames (the session stays open).
	OnError func(ServerError)
	// OnSent receives the node's answer to Send and Publish: the request's ref and
	// the id of the stored stream entry.
	OnSent func(ref, id string)

	// Backoff of reconnection attempts.
	Backoff Backoff
	// DedupeWindow is how many message ids (per recipient) are remembered to drop
	// duplicates. Default 10,000; negative: no deduplication.
	DedupeWindow int
	// AutoAck acks pushes once OnPush returned. Acks are batched: at most one
	// round every 100 ms, with one ack frame per stream (the user's, each topic's)
	// carrying the newest offset.
	AutoAck bool
	// PingInterval is how often the client pings the node. A connection on which
	// nothing (frame, ping or pong) arrived for three intervals is considered dead
	// and replaced. Default 15 s; negative: no pings and no such check (the client
	// still answers the node's pings).
	PingInterval time.Duration
	// Dialer opens the TCP connection, e.g. (&net.Dialer{LocalAddr: a}).DialContext
	// to bind a source address. It must return when ctx ends (Close waits for it).
	// Default: a net.Dialer with a 10 s timeout.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLS configures wss:// connections (default: the system roots, ServerName from
	// the URL).
	TLS *tls.Config
}

const (
	defaultBackoffMin   = 100 * time.Millisecond
	defaultBackoffMax   = 5 * time.Second
	defaultDedupeWindow = 10_000
	defaultPingInterval = 15 * time.Second
	dialTimeout         = 10 * time.Second
	handshakeTimeout    = 10 * time.Second
	writeTimeout        = 10 * time.Second
	closeWriteTimeout   = time.Second
	ackEvery            = 100 * time.Millisecond
	stableAfter         = 10 * time.Second // a connection up this long resets the backoff
	maxMessageBytes     = 16 << 20
)

// withDefaults checks cfg and fills in the defaults the field comments promise.
func (cfg Config) withDefaults() (Config, error) {
	if err := checkURLs(cfg.URLs); err != nil {
		return cfg, err
	}
	cfg.URLs = append([]string(nil), cfg.URLs...) // the caller may reuse its slice
	if cfg.Since != "" && !validOffset(cfg.Since) {
		return cfg, fmt.Errorf("herald client: Config.Since %q is not an offset like 1700000000000-0", cfg.Since)
	}
	if cfg.Token == nil {
		return cfg, errors.New("herald client: Config.Token is required")
	}
	if cfg.Backoff.Min <= 0 {
		cfg.Backoff.Min = defaultBackoffMin
	}
	if cfg.Backoff.Max <= 0 {
		cfg.Backoff.Max = defaultBackoffMax
	}
	if cfg.Backoff.Max < cfg.Backoff.Min {
		cfg.Backoff.Max = cfg.Backoff.Min
	}
	if cfg.DedupeWindow == 0 {
		cfg.DedupeWindow = defaultDedupeWindow
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = defaultPingInterval
	}
	if cfg.Dialer == nil {
		cfg.Dialer = (&net.Dialer{Timeout: dialTimeout}).DialContext
	}
	return cfg, nil
}

// checkURLs refuses what no attempt could connect to, so that Dial fails at once
// instead of retrying until its context ends.
func checkURLs(urls []string) error {
	if len(urls) == 0 {
		return errors.New("herald client: Config.URLs is empty")
	}
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil {
			return fmt.Errorf("herald client: bad URL %q: %w", s, err)
		}
		if u.Scheme != "ws" && u.Scheme != "wss" {
			return fmt.Errorf("herald client: URL %q: the scheme must be ws or wss", s)
		}
	}
	return nil
}
