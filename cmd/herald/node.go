package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/gateway"
	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/gateway/web"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

// Drain pacing: sessions are closed with 1001 in batches, with a jittered pause
// between batches, so that their reconnects spread over the remaining nodes.
const (
	drainBatch = 200
	drainPause = 25 * time.Millisecond
)

// nodeOptions are wiring choices tests make.
type nodeOptions struct {
	listener net.Listener             // default: listen on cfg.Server.Addr
	onFrame  func(f wire.ClientFrame) // see actors.Config.OnFrame
	redis    redis.UniversalClient    // default: connect per cfg.Redis
	demo     bool                     // embedded mode: the demo page at / and the dev endpoints
	embedded bool                     // the embedded store: no Redis checks
	// devAPIKey, when set, is the key of POST /v1/publish, from loopback clients
	// only: the embedded mode's, when publish.api_key is not set.
	devAPIKey string
	// redisCheckEvery is how often the eviction policy is read again (default 1 min).
	redisCheckEvery time.Duration
}

// node is one running Herald node, wired from its parts.
type node struct {
	cfg      config.Config
	log      *slog.Logger
	rdb      redis.UniversalClient
	ownRedis bool
	presence *streams.Presence
	cursors  *streams.Cursors
	reads    *streams.Reads
	limit    *streams.SessionLimit
	undeliv  *streams.Undelivered
	push     *pushFallback // nil without push.enabled
	pushErr  error         // building push: reported by startNode
	cluster  *streams.Cluster
	router   *streams.Router
	inbox    *streams.Inbox
	control  *streams.Control    // the server API's control stream
	check    *streams.RedisCheck // nil on the embedded store
	actors   *actors.System
	gw       *gateway.Server
	verifier *auth.Verifier
	reg      *prometheus.Registry
	trim     *idleTrimmer
	ln       net.Listener
	served   chan struct{} // closed when the HTTP server returned; serveErr is then set
	serveErr error
	stopOnce sync.Once
	stopErr  error
}

// inboxLost runs when the node's inbox vanished (reaped while this node was
// paused, deleted, or Redis lost its data): pushes for its sessions may have gone
// with it unread. The sessions are closed first, so that they resume from history
// before presence (written again next) brings newer pushes to them.
func (n *node) inboxLost() {
	n.log.Warn("this node's inbox vanished; its sessions resume from history")
	n.actors.Reconnect(context.Background())
	n.presence.Resync()
}

// startNode wires and starts a node. cfg.Auth.HMACSecret and cfg.Redis must be
// final (the embedded store already started, when that is the mode).
func startNode(ctx context.Context, cfg config.Config, log *slog.Logger, opts nodeOptions) (_ *node, err error) {
	n := &node{cfg: cfg, log: log, rdb: opts.redis, served: make(chan struct{}), reg: prometheus.NewRegistry()}
	if n.verifier, err = newVerifier(cfg.Auth, log, auth.NewMetrics(n.reg)); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			n.verifier.Close()
		}
	}()
	if err := n.connect(ctx, opts); err != nil {
		return nil, err
	}
	n.wire(opts)
	if err := n.checkWired(ctx); err != nil {
		_ = n.ln.Close()
		_ = n.actors.Shutdown(context.Background()) // wire started its clock
		n.closeRedis()
		return nil, err
	}
	if err := n.startHelpers(ctx); err != nil {
		_ = n.ln.Close()
		n.stopHelpers(context.Background())
		n.reads.Stop(context.Background())
		n.closeRedis()
		return nil, err
	}
	n.inbox.Start()
	n.router.Start()
	go func() {
		n.serveErr = n.gw.Serve(n.ln)
		close(n.served)
	}()
	n.trim.Start()
	return n, nil
}

// connect opens Redis, unless opts brings a client, and the listener, unless
// opts brings one.
func (n *node) connect(ctx context.Context, opts nodeOptions) error {
	if n.rdb == nil {
		rdb, err := streams.Connect(ctx, redisConfig(n.cfg))
		if err != nil {
			return err
		}
		n.rdb, n.ownRedis = rdb, true
	}
	n.ln = opts.listener
	if n.ln == nil {
		ln, err := net.Listen("tcp", n.cfg.Server.Addr)
		if err != nil {
			n.closeRedis()
			return fmt.Errorf("listen on %s: %w", n.cfg.Server.Addr, err)
		}
		n.ln = ln
	}
	return nil
}

// checkWired reports what wire could not build, then whether Redis is one
// this node may run on.
func (n *node) checkWired(ctx context.Context) error {
	if n.pushErr != nil {
		return n.pushErr
	}
	return n.verifyRedis(ctx)
}

// startHelpers starts what runs beside the sessions. The control stream comes
// last, and before the node serves: a revoked token is known by then.
func (n *node) startHelpers(ctx context.Context) error {
	n.reads.Start()
	n.presence.Start()
	n.cursors.Start()
	n.limit.Start()
	n.undeliv.Start()
	if err := n.push.Start(ctx); err != nil {
		return err
	}
	if err := n.cluster.Start(ctx); err != nil {
		return err
	}
	return n.control.Start(ctx)
}

// wire builds the parts; nothing runs yet.
func (n *node) wire(opts nodeOptions) {
	w := n.wireMetrics()
	w.keys = streams.NewKeys(n.cfg.Redis.Prefix, n.cfg.Streams.Partitions)
	n.wireRedisOps(opts, w.keys, w.sm)
	w.health = streams.NewHealth()
	n.wireStores(&w)
	n.wireActors(opts, w)
	n.wireDelivery(w)
	n.wireControl(&w)
	n.wireGateway(opts, w)
	n.push, n.pushErr = newPushFallback(n.cfg, n.rdb, w.keys, w.reg, n.log)
}

// wireControl builds the server API's control stream and queries.
func (n *node) wireControl(w *wiring) {
	cfg := n.cfg
	revoked := streams.NewRevocations(w.sm.Revocations)
	n.control = streams.NewControl(n.rdb, w.keys, streams.ControlConfig{
		MaxLen: int64(cfg.API.ControlMaxLen), TokenLifetime: cfg.API.MaxTokenLifetime,
		Block: cfg.Streams.Block, DLQMaxLen: cfg.Streams.DLQMaxLen,
	}, revoked, gateway.ApplyControl(n.actors), n.log, w.sm)
	n.control.WaitReplicas(cfg.Redis.WaitReplicas, cfg.Redis.WaitTimeout)
	n.cluster.CountSessions(n.actors.SessionCount)
	w.api = gateway.ServerAPI{Control: n.control, Queries: streams.NewQueries(n.rdb, w.keys, cfg.Cluster.NodeTTL, w.sm),
		History: w.history, Revocations: revoked}
}

// wiring is what the parts of a node share while wire builds them.
type wiring struct {
	reg       *prometheus.Registry
	sm        *streams.Metrics
	am        *actors.Metrics
	keys      streams.Keys
	health    *streams.Health
	history   *streams.History
	hpol      *streams.HistoryPolicy
	publisher *streams.Publisher
	upstream  *streams.Upstream
	targets   *streams.PushTargets
	api       gateway.ServerAPI
}

// wireMetrics builds the registry, both metric sets and the idle memory trimmer,
// which watches them for quiet.
func (n *node) wireMetrics() wiring {
	reg := n.reg
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sm, am := streams.NewMetrics(reg), actors.NewMetrics(reg)
	trims := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_memory_trims_total", Help: "Free heap memory returned to the OS after a quiet memory.idle_trim."})
	reg.MustRegister(trims)
	n.trim = newIdleTrimmer(n.cfg.Memory.IdleTrim, metricSum(am.Sessions, am.PushesOut, sm.PushesIn, sm.InboxRead), trims)
	return wiring{reg: reg, sm: sm, am: am}
}

// wireStores builds the Redis-side services the sessions call.
func (n *node) wireStores(w *wiring) {
	cfg, keys, sm := n.cfg, w.keys, w.sm
	nowMs := func() int64 { return time.Now().UnixMilli() }
	n.presence = streams.NewPresence(n.rdb, keys, cfg.Node.ID, cfg.Presence.Debounce, n.log, sm)
	n.presence.WaitReplicas(cfg.Redis.WaitReplicas, cfg.Redis.WaitTimeout)
	n.reads = streams.NewReads(n.rdb, sm)
	n.cursors = streams.NewCursors(n.rdb, n.reads, keys, 200*time.Millisecond, sm)
	n.limit = streams.NewSessionLimit(n.rdb, keys, cfg.Node.ID, cfg.Limits.MaxSessionsPerUser, sm)
	n.undeliv = streams.NewUndelivered(n.rdb, keys, cfg.Delivery.AckTimeout, n.log, sm)
	w.hpol = historyPolicy(cfg.History)
	w.history = streams.NewHistory(n.reads, keys, cfg.History.Size, nowMs, sm).WithPolicy(w.hpol)
	w.history.LogLost(n.log)
	w.publisher = streams.NewPublisher(n.rdb, keys, cfg.Limits.MaxPayloadBytes, sm)
	w.publisher.WaitReplicas(cfg.Redis.WaitReplicas, cfg.Redis.WaitTimeout)
	w.upstream = streams.NewUpstream(n.rdb, keys, w.publisher, cfg.Limits.MaxPayloadBytes, sm)
	w.targets = streams.NewPushTargets(n.rdb, keys, cfg.Push.TargetTTL)
}

// wireActors builds the session actors' system.
func (n *node) wireActors(opts nodeOptions, w wiring) {
	cfg := n.cfg
	n.actors = actors.New(actors.Config{
		Node: cfg.Node.ID, Shards: cfg.Directory.Shards,
		MaxPendingBytes: cfg.Limits.MaxPendingBytes, OnFrame: opts.onFrame,
		PingInterval: cfg.Gateway.PingTimeout / 3,
		Policy:       auth.NewTopicPolicy(cfg.Topics.Subscribe, cfg.Topics.Publish), MaxSubscriptions: cfg.Limits.MaxSubscriptions,
		UpstreamPerSecond: cfg.Limits.UpstreamPerSecond, RefWindow: cfg.Upstream.RefWindow,
		FramesPerSecond: cfg.Limits.FramesPerSecond, AllowHTTPPush: cfg.Push.WebPush.AllowHTTP,
	}, actors.Deps{History: w.history, Cursors: n.cursors, Presence: n.presence, Limit: n.limit, Acks: n.undeliv, Upstream: w.upstream,
		PushTargets: gateway.SessionTargets{Store: w.targets}, Index: n.presence, Subscribers: n.presence, Log: n.log, Metrics: w.am})
	n.presence.ListSessionsWith(n.localSessions)
}

// localSessions are the directory's sessions, for the presence writer's rewrite
// of the session details.
func (n *node) localSessions(ctx context.Context) []streams.LocalSession {
	infos := n.actors.SessionInfos(ctx)
	out := make([]streams.LocalSession, len(infos))
	for i, si := range infos {
		out[i] = streams.LocalSession{ID: si.ID, User: si.User, Device: si.Device, OpenedMs: si.OpenedMs, Gone: si.Gone}
	}
	return out
}

// wireDelivery builds what moves pushes between nodes: membership, this node's
// inbox and the ingress router.
func (n *node) wireDelivery(w wiring) {
	cfg, keys, sm := n.cfg, w.keys, w.sm
	n.cluster = streams.NewCluster(n.rdb, keys, streams.ClusterConfig{
		Node: cfg.Node.ID, NodeTTL: cfg.Cluster.NodeTTL, Debounce: cfg.Presence.Debounce,
	}, n.presence, func() {
		n.log.Warn("this node was declared dead or Redis lost its data; its sessions resume from history")
		n.actors.Reconnect(context.Background())
	}, n.log, sm, w.health)
	n.inbox = streams.NewInbox(n.rdb, keys, streams.InboxConfig{
		Node: cfg.Node.ID, ReadCount: cfg.Streams.ReadCount, Block: cfg.Streams.Block, DLQMaxLen: cfg.Streams.DLQMaxLen,
		MaxLen: cfg.Streams.InboxMaxLen, OnReset: n.inboxLost,
		OnOverflow: func() { n.actors.Reconnect(context.Background()) },
	}, n.actors, n.log, sm, w.health)
	n.router = streams.NewRouter(n.rdb, keys, streams.RouterConfig{
		Node: cfg.Node.ID, ReadCount: cfg.Streams.ReadCount, Block: cfg.Streams.Block,
		ClaimIdle: cfg.Streams.ClaimIdle, MaxDeliveries: cfg.Streams.MaxDeliveries,
		LeaseTTL: cfg.Streams.LeaseTTL, DLQMaxLen: cfg.Streams.DLQMaxLen,
		History:     w.hpol,
		HistorySize: cfg.History.Size, HistoryTTL: cfg.History.TTL, MaxPayload: cfg.Limits.MaxPayloadBytes,
		WaitReplicas: cfg.Redis.WaitReplicas, WaitTimeout: cfg.Redis.WaitTimeout,
	}, n.actors, n.inbox, n.undeliv, n.log, sm, w.health)
}

// wireGateway builds the HTTP side.
func (n *node) wireGateway(opts nodeOptions, w wiring) {
	cfg := n.cfg
	apiKey := cfg.Publish.APIKey
	if apiKey == "" {
		apiKey = opts.devAPIKey
	}
	n.gw = gateway.New(gateway.Config{
		Node: cfg.Node.ID, AllowedOrigins: cfg.Auth.AllowedOrigins,
		PublishAPIKey: apiKey, PublishLoopbackOnly: apiKey != cfg.Publish.APIKey,
		WriteTimeout: cfg.Gateway.WriteTimeout, HandshakeTimeout: cfg.Gateway.HandshakeTimeout,
		PingTimeout: cfg.Gateway.PingTimeout, ReadBufferSize: cfg.Gateway.ReadBufferSize,
		MaxFrameBytes: cfg.Limits.MaxFrameBytes, MaxPayloadBytes: cfg.Limits.MaxPayloadBytes,
		HandshakesPerIP: cfg.Limits.HandshakesPerIP, AllowHTTPPush: cfg.Push.WebPush.AllowHTTP,
	}, gateway.Deps{
		Verifier:  n.verifier,
		Sessions:  n.actors,
		Publisher: w.publisher,
		API:       w.api,
		Ready:     func(ctx context.Context) error { return n.ready(ctx, w.health) },
		Warnings:  n.redisWarnings,
		Routes: web.Routes(web.Config{
			Demo: opts.demo, Secret: []byte(cfg.Auth.HMACSecret), Publish: w.publisher.Publish,
			Mint:            auth.MintOptions{Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience},
			MaxPayloadBytes: cfg.Limits.MaxPayloadBytes,
		}),
		Metrics: gateway.NewMetrics(w.reg),
		Scrape:  promhttp.HandlerFor(w.reg, promhttp.HandlerOpts{}),
		Log:     n.log,

		PushTargets: w.targets,
	})
}

// ready is /readyz: Redis answers and has memory, and every loop's last round trip
// succeeded.
func (n *node) ready(ctx context.Context, health *streams.Health) error {
	if err := n.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis unreachable: %w", err)
	}
	if err := n.redisMemoryReady(ctx); err != nil {
		return err
	}
	return health.Ready()
}

// Addr is where the node listens.
func (n *node) Addr() string { return n.ln.Addr().String() }

// Stop drains the node in order: stop accepting, stop routing, close sessions with
// 1001 in paced batches, finish and acknowledge the inbox, remove presence, close
// Redis. Bounded by ctx; idempotent.
func (n *node) Stop(ctx context.Context) error {
	n.stopOnce.Do(func() { n.stopErr = n.stop(ctx) })
	return n.stopErr
}

func (n *node) stop(ctx context.Context) error {
	var errs []error
	add := func(step string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", step, err))
		}
	}
	n.trim.Stop()
	add("http", n.gw.Shutdown(ctx))
	n.verifier.Close()
	add("router", n.router.Stop(ctx))
	add("sessions", n.actors.Drain(ctx, drainBatch, drainPause))
	add("inbox", n.inbox.Stop(ctx))
	n.stopHelpers(ctx)
	add("leave", n.cluster.Leave(ctx))
	add("actors", n.actors.Shutdown(ctx))
	n.reads.Stop(ctx) // after the sessions' attach work, which reads through it
	n.closeRedis()
	<-n.served
	add("http", n.serveErr)
	return errors.Join(errs...)
}

// stopHelpers flushes and stops the batch writers and the membership loop.
func (n *node) stopHelpers(ctx context.Context) {
	if n.check != nil {
		n.check.Stop()
	}
	_ = n.push.Stop(ctx) // its sends finish, or their events stay pending
	n.cursors.Stop(ctx)
	n.limit.Stop(ctx)
	n.undeliv.Stop(ctx)
	n.presence.Stop(ctx)
	n.cluster.Stop(ctx)
	n.control.Stop(ctx)
}

func (n *node) closeRedis() {
	if n.ownRedis {
		_ = n.rdb.Close()
	}
}

// redisConfig is how to reach the configured Redis: one server, a Redis Cluster,
// or the master a set of Sentinels names.
func redisConfig(cfg config.Config) streams.RedisConfig {
	rc := streams.RedisConfig{
		Addr: cfg.Redis.Addr, Addrs: cfg.Redis.Addrs, Username: cfg.Redis.Username,
		Password: cfg.Redis.Password, TLS: cfg.Redis.TLS, TLSCA: cfg.Redis.TLSCA,
		SentinelMaster: cfg.Redis.Sentinel.Master, SentinelAddrs: cfg.Redis.Sentinel.Addrs,
		SentinelUsername: cfg.Redis.Sentinel.Username, SentinelPassword: cfg.Redis.Sentinel.Password,
	}
	if cfg.Redis.WaitReplicas > 0 {
		rc.WaitTimeout = cfg.Redis.WaitTimeout
	}
	return rc
}
