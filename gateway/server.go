// Package gateway is Herald's HTTP face: the /ws upgrade with its token and origin
// checks, POST /v1/publish, /healthz, /readyz and /metrics. It turns gws events into
// calls on the session actors.
package gateway

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

// Config tunes the gateway.
type Config struct {
	Node             string
	AllowedOrigins   []string // empty: any
	PublishAPIKey    string   // empty: POST /v1/publish is off
	WriteTimeout     time.Duration
	HandshakeTimeout time.Duration
	PingTimeout      time.Duration
	ReadBufferSize   int
	MaxFrameBytes    int
	MaxPayloadBytes  int
	HandshakesPerIP  int // per second; 0 = no limit
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
	Ready     func(ctx context.Context) error
	Metrics   *Metrics
	Scrape    http.Handler // /metrics
	Log       *slog.Logger
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
	s.upgrader = gws.NewUpgrader(&events{pingTimeout: cfg.PingTimeout, metrics: deps.Metrics}, &gws.ServerOption{
		ReadBufferSize:     cfg.ReadBufferSize,
		ReadMaxPayloadSize: cfg.MaxFrameBytes,
		HandshakeTimeout:   cfg.HandshakeTimeout,
		Recovery:           gws.Recovery,
		Logger:             gwsLogger{deps.Log},
		NewSession:         func() gws.SessionStorage { return &handleStorage{} },
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.serveWS)
	mux.HandleFunc("/v1/publish", s.servePublish)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/readyz", s.serveReady)
	if deps.Scrape != nil {
		mux.Handle("/metrics", deps.Scrape)
	}
	for path, h := range deps.Routes {
		mux.Handle(path, h)
	}
	s.http = &http.Server{
		Handler:           markServed(mux),
		ReadHeaderTimeout: cfg.HandshakeTimeout, // gws's own server has no such deadline (slowloris)
		ReadTimeout:       cfg.HandshakeTimeout + 30*time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(deps.Log.Handler(), slog.LevelWarn),
		ConnState:         s.trackConn,
		ConnContext:       s.connContext,
	}
	return s
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

// servedKey marks, in a connection's context, that a whole request arrived on it.
type servedKey struct{}

// connContext gives each HTTP connection a served flag, which the handlers set.
func (s *Server) connContext(ctx context.Context, c net.Conn) context.Context {
	served := new(atomic.Bool)
	s.connsMu.Lock()
	s.fresh[c] = served
	s.connsMu.Unlock()
	return context.WithValue(ctx, servedKey{}, served)
}

// trackConn counts connections that close without a whole request: a client that
// sent half a request and was cut by the read-header timeout (slowloris). Only
// HTTP connections are remembered (upgraded ones are dropped), so the map is
// bounded by them.
func (s *Server) trackConn(c net.Conn, state http.ConnState) {
	if state != http.StateHijacked && state != http.StateClosed {
		return
	}
	s.connsMu.Lock()
	served, ok := s.fresh[c]
	delete(s.fresh, c)
	s.connsMu.Unlock()
	if ok && state == http.StateClosed && !served.Load() {
		s.deps.Metrics.SlowHandshakes.Inc()
	}
}

// markServed wraps the routes: a request reached a handler.
func markServed(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served, ok := r.Context().Value(servedKey{}).(*atomic.Bool); ok {
			served.Store(true)
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if s.limiter != nil && !s.limiter.allow(r, time.Now()) {
		s.deps.Metrics.HandshakesLimited.Inc()
		s.deps.Metrics.Refused.WithLabelValues("429").Inc()
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "too many handshakes from this address; retry later")
		return
	}
	if !s.originAllowed(r.Header.Get("Origin")) {
		s.deps.Metrics.Refused.WithLabelValues("403").Inc()
		writeError(w, http.StatusForbidden, "origin not allowed")
		return
	}
	spec, status, err := s.sessionSpec(r)
	if err != nil {
		s.deps.Metrics.Refused.WithLabelValues(strconv.Itoa(status)).Inc()
		writeError(w, status, err.Error())
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		writeError(w, http.StatusInternalServerError, "connection cannot be upgraded")
		return
	}
	netConn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	dc := newDeadlineConn(netConn, s.cfg.WriteTimeout)
	// gws reads only through the bufio reader, which reads the raw connection: a
	// wrapper in the read path deepens the stack every idle connection parks with
	// past 2 KiB, and then it holds 4 KiB.
	conn, err := s.upgrader.UpgradeFromConn(dc, bufio.NewReaderSize(netConn, s.cfg.ReadBufferSize), r)
	if err != nil {
		return // gws answered the request already
	}
	sock := &socket{c: conn, dc: dc, idleTimeout: s.cfg.PingTimeout, metrics: s.deps.Metrics}
	sock.lastSeen.Store(time.Now().UnixNano())
	h, err := s.deps.Sessions.Open(spec, sock)
	if err != nil {
		sock.Close(wire.CloseGoingAway, "node draining")
		return
	}
	if st, ok := conn.Session().(*handleStorage); ok {
		st.sock = sock
	}
	conn.Session().Store(handleKey, h)
	go conn.ReadLoop() // a fresh goroutine: its stack stays small, not the HTTP handler's
}

// sessionSpec checks the token and the query before the upgrade; failures are
// answered with a status and a JSON reason.
func (s *Server) sessionSpec(r *http.Request) (actors.SessionSpec, int, error) {
	tok := auth.TokenFromRequest(r)
	if tok == "" {
		return actors.SessionSpec{}, http.StatusUnauthorized, errors.New("missing token: send Authorization: Bearer <jwt> or ?token=<jwt>")
	}
	claims, err := s.deps.Verifier.Verify(tok)
	if err != nil {
		return actors.SessionSpec{}, http.StatusUnauthorized, err
	}
	q := r.URL.Query()
	spec := actors.SessionSpec{
		ID:     s.cfg.Node + "-" + s.run + "-" + strconv.FormatUint(s.seq.Add(1), 36),
		User:   claims.User,
		Device: claims.Device,
		Expiry: claims.Expiry,
		Topics: claims.Topics,
	}
	if spec.Device == "" {
		spec.Device = q.Get("device")
		if spec.Device != "" && wire.ValidName(spec.Device) != nil {
			return spec, http.StatusBadRequest, fmt.Errorf("bad device: %w", wire.ErrBadName)
		}
	}
	if since := q.Get("since"); since != "" {
		if spec.Since, err = wire.ParseOffset(since); err != nil {
			return spec, http.StatusBadRequest, errors.New(`bad since: an offset like "1700000000000-0"`)
		}
		spec.HasSince = true
	}
	return spec, 0, nil
}

func (s *Server) originAllowed(origin string) bool {
	if len(s.cfg.AllowedOrigins) == 0 || origin == "" {
		return true // no allow-list, or not a browser (browsers always send Origin)
	}
	for _, o := range s.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// publishBody is the JSON of POST /v1/publish.
type publishBody struct {
	To    string          `json:"to"`
	Topic string          `json:"topic"`
	Data  json.RawMessage `json:"data"`
	ID    string          `json:"id"`
	From  string          `json:"from"`
	TTL   int64           `json:"ttl"`
}

func (s *Server) servePublish(w http.ResponseWriter, r *http.Request) {
	if s.cfg.PublishAPIKey == "" {
		writeError(w, http.StatusNotFound, "publishing over HTTP is off: set publish.api_key")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	key, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.PublishAPIKey)) != 1 {
		writeError(w, http.StatusUnauthorized, "missing or wrong API key: send Authorization: Bearer <publish.api_key>")
		return
	}
	body, status, err := decodePublish(w, r, s.cfg.MaxPayloadBytes)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	id, err := s.deps.Publisher.Publish(r.Context(), streams.Publication{
		To: body.To, Topic: body.Topic, Data: body.Data, ID: body.ID, From: body.From, TTL: body.TTL,
	})
	var rej streams.Rejection
	switch {
	case errors.As(err, &rej):
		writeError(w, http.StatusBadRequest, rej.Error())
	case errors.Is(err, streams.ErrNotReplicated):
		// Written, but not on redis.wait_replicas replicas in time: a failover could
		// lose it. Not accepted; a retry may be delivered twice (same id).
		writeError(w, http.StatusServiceUnavailable, "redis replicas did not confirm the write in time (redis.wait_replicas); not accepted, retry later")
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "redis unavailable; nothing was written, retry later")
	default:
		writeJSON(w, http.StatusAccepted, map[string]string{"id": id})
	}
}

func decodePublish(w http.ResponseWriter, r *http.Request, maxPayload int) (publishBody, int, error) {
	var body publishBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, int64(maxPayload)+4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return body, http.StatusRequestEntityTooLarge, fmt.Errorf("body over %d bytes", tooBig.Limit)
		}
		return body, http.StatusBadRequest, fmt.Errorf("body is not a publish object: %v", err)
	}
	if dec.More() {
		return body, http.StatusBadRequest, errors.New("body has more than one JSON value")
	}
	if len(body.Data) == 0 {
		return body, http.StatusBadRequest, errors.New("missing data")
	}
	if body.TTL < 0 {
		return body, http.StatusBadRequest, errors.New("bad ttl: a positive number of seconds")
	}
	return body, 0, nil
}

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	body := map[string]any{"status": "ready"}
	if s.deps.Warnings != nil {
		if ws := s.deps.Warnings(); len(ws) > 0 {
			body["warnings"] = ws
		}
	}
	status := http.StatusOK
	if err := s.deps.Ready(ctx); err != nil {
		status, body["status"], body["error"] = http.StatusServiceUnavailable, "unavailable", err.Error()
	}
	writeJSON(w, status, body)
}

func writeError(w http.ResponseWriter, status int, reason string) {
	writeJSON(w, status, map[string]string{"error": reason})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// gwsLogger sends gws's own messages (recovered panics, handshake errors) to slog.
type gwsLogger struct{ log *slog.Logger }

func (l gwsLogger) Error(v ...any) { l.log.Warn("websocket", "detail", fmt.Sprint(v...)) }
