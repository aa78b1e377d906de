package gateway

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/streams"
)

// Config tunes the gateway.
type Config struct {
	Node           string
	AllowedOrigins []string // empty: any
	PublishAPIKey  string   // empty: POST /v1/publish is off
	// PublishLoopbackOnly keeps POST /v1/publish to clients on this machine: the
	// key is the embedded mode's dev key, printed at start and kept in a file.
	PublishLoopbackOnly bool
	WriteTimeout        time.Duration
	HandshakeTimeout    time.Duration
	PingTimeout         time.Duration
	ReadBufferSize      int
	MaxFrameBytes       int
	MaxPayloadBytes     int
	HandshakesPerIP     int // per second; 0 = no limit
	// AllowHTTPPush accepts http:// Web Push endpoints (push.webpush.allow_http).
	AllowHTTPPush bool
}

// Sessions opens session actors.
type Sessions interface {
	Open(spec actors.SessionSpec, sock actors.Socket) (*actors.Handle, error)
}

// Publisher appends publications to the ingress stream.
type Publisher interface {
	Publish(ctx context.Context, p streams.Publication) (string, error)
}

// Deps are the gateway's collaborators.
type Deps struct {
	Verifier  *auth.Verifier
	Sessions  Sessions
	Publisher Publisher
	// PushTargets serves /v1/push/targets; nil answers 404.
	PushTargets TargetStore
	API         ServerAPI // the server API; its Revocations are checked at connect
	Ready       func(ctx context.Context) error
	Metrics     *Metrics
	Scrape      http.Handler // /metrics
	Log         *slog.Logger
	// Extra routes, e.g. the demo page of the embedded mode.
	Routes map[string]http.Handler
	// Warnings, when set, are conditions /readyz lists without turning red (an
	// eviction policy that may delete Herald's keys).
	Warnings func() []string
}

// Server serves HTTP and WebSocket on one listener.
type Server struct {
	cfg      Config
	deps     Deps
	upgrader *gws.Upgrader
	http     *http.Server
	seq      atomic.Uint64
	run      string // random per process: session ids stay unique across restarts of a node id
	limiter  *handshakeLimiter
	connsMu  sync.Mutex
	fresh    map[net.Conn]*atomic.Bool // open HTTP connections: did a whole request arrive
	once     sync.Once
}

// New builds the server; Serve runs it.
func New(cfg Config, deps Deps) *Server {
	s := &Server{cfg: cfg, deps: deps, run: strconv.FormatUint(rand.Uint64()&0xffffff, 36), fresh: make(map[net.Conn]*atomic.Bool)}
	if cfg.HandshakesPerIP > 0 {
		s.limiter = newHandshakeLimiter(cfg.HandshakesPerIP)
	}
	s.upgrader = newUpgrader(cfg, deps)
	s.http = &http.Server{
		Handler:           markServed(s.routes()),
		ReadHeaderTimeout: cfg.HandshakeTimeout, // gws's own server has no such deadline (slowloris)
		ReadTimeout:       cfg.HandshakeTimeout + 30*time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          httpErrorLog(deps.Log),
		ConnState:         s.trackConn,
		ConnContext:       s.connContext,
	}
	return s
}

// newUpgrader configures gws for the connections serveWS upgrades.
func newUpgrader(cfg Config, deps Deps) *gws.Upgrader {
	return gws.NewUpgrader(&events{metrics: deps.Metrics, log: deps.Log, node: cfg.Node}, &gws.ServerOption{
		ReadBufferSize:     cfg.ReadBufferSize,
		ReadMaxPayloadSize: cfg.MaxFrameBytes,
		HandshakeTimeout:   cfg.HandshakeTimeout,
		Recovery:           gws.Recovery,
		Logger:             gwsLogger{deps.Log},
		NewSession:         func() gws.SessionStorage { return &handleStorage{} },
	})
}

// routes maps the gateway's paths, then the extra routes of Deps.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.serveWS)
	mux.HandleFunc("/v1/publish", s.servePublish)
	mux.HandleFunc("/v1/push/targets", s.servePushTargets)
	s.apiRoutes(mux)
	mux.HandleFunc("/healthz", serveHealth)
	mux.HandleFunc("/readyz", s.serveReady)
	if s.deps.Scrape != nil {
		mux.Handle("/metrics", s.deps.Scrape)
	}
	for path, h := range s.deps.Routes {
		mux.Handle(path, h)
	}
	return mux
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and ends idle HTTP ones; WebSocket sessions
// are the actors' to drain. Idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() { err = s.http.Shutdown(ctx) })
	return err
}
