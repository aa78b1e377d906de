package gateway

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/wire"
)

// serveWS is GET /ws: the checks of docs/PROTOCOL.md section 3, answered with a
// status and a JSON reason before the upgrade, then the upgrade and the session.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	spec, ok := s.admit(w, r)
	if !ok {
		return
	}
	s.upgrade(w, r, spec)
}

// admit runs the checks in a fixed order (the handshake limit first, as the
// cheapest; then whether this is a WebSocket upgrade at all) and answers a
// refusal itself; each refusal counts by status.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (actors.SessionSpec, bool) {
	if s.limiter != nil && !s.limiter.allow(r, time.Now()) {
		s.deps.Metrics.HandshakesLimited.Inc()
		w.Header().Set("Retry-After", "1")
		return s.refuse(w, r, http.StatusTooManyRequests, "too many handshakes from this address; retry later")
	}
	if status, reason := upgradeRefusal(w.Header(), r); status != 0 {
		return s.refuse(w, r, status, reason)
	}
	if !s.originAllowed(r.Header.Get("Origin")) {
		return s.refuse(w, r, http.StatusForbidden, "origin not allowed")
	}
	spec, status, err := s.sessionSpec(r)
	if err != nil {
		return s.refuse(w, r, status, err.Error())
	}
	return spec, true
}

// refuse answers a handshake with status and a JSON reason, counts it by status
// and logs it (at debug).
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, reason string) (actors.SessionSpec, bool) {
	s.deps.Metrics.Refused.WithLabelValues(strconv.Itoa(status)).Inc()
	s.logRefused(r, status, reason)
	writeError(w, status, reason)
	return actors.SessionSpec{}, false
}

// upgrade hijacks the connection, answers the WebSocket handshake and opens the
// session on it.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, spec actors.SessionSpec) {
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
	sock := &socket{c: conn, dc: dc, idleTimeout: s.cfg.PingTimeout, metrics: s.deps.Metrics,
		info: sessionInfo{id: spec.ID, user: spec.User, device: spec.Device, remote: r.RemoteAddr}}
	sock.lastSeen.Store(time.Now().UnixNano())
	h, err := s.deps.Sessions.Open(spec, sock)
	if err != nil {
		sock.Close(wire.CloseGoingAway, "node draining")
		// The closing handshake needs a reader: it takes the client's close frame,
		// or meets Close's read deadline, and then gws closes the connection.
		// Without one the connection stayed open until the client left.
		go conn.ReadLoop()
		return
	}
	if st, ok := conn.Session().(*handleStorage); ok {
		st.sock = sock
	}
	conn.Session().Store(handleKey, h)
	s.logOpened(sock.info)
	go conn.ReadLoop() // a fresh goroutine: its stack stays small, not the HTTP handler's
}

// sessionSpec checks the token and the query before the upgrade; failures are
// answered with a status and a JSON reason.
func (s *Server) sessionSpec(r *http.Request) (actors.SessionSpec, int, error) {
	tok := auth.TokenFromRequest(r)
	if tok == "" {
		return actors.SessionSpec{}, http.StatusUnauthorized, errors.New("missing token: send Authorization: Bearer <jwt> or ?token=<jwt>")
	}
	claims, err := s.verify(tok)
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

		TokenID:  claims.ID,
		IssuedAt: unixOrZero(claims.IssuedAt),
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

// errRevoked refuses a token revoked through the server API (POST /v1/revoke).
var errRevoked = errors.New("token revoked")

// verify checks the token, and that it was not revoked: an in-memory check, no
// Redis round trip.
func (s *Server) verify(tok string) (auth.Claims, error) {
	claims, err := s.deps.Verifier.Verify(tok)
	if err != nil {
		return claims, err
	}
	if rv := s.deps.API.Revocations; rv != nil && rv.Revoked(claims.User, claims.ID, claims.IssuedAt) {
		return claims, errRevoked
	}
	return claims, nil
}

// unixOrZero is t in unix seconds, or 0 for the zero time (no iat claim).
func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
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

// upgradeRefusal checks the request is a WebSocket upgrade before anything else is
// asked of it, and returns the status and reason to refuse it with (0 if it is
// one), setting the headers RFC 6455 4.2.2 asks for. gws would refuse a plain GET
// (a browser opening the URL, curl) with a bare "websocket version not
// supported", and only after the token check had answered 401 to it.
func upgradeRefusal(h http.Header, r *http.Request) (int, string) {
	const expects = "this endpoint expects a WebSocket upgrade"
	switch {
	case r.Method != http.MethodGet:
		h.Set("Allow", http.MethodGet)
		return http.StatusMethodNotAllowed, expects + " (GET with Upgrade: websocket)"
	case !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || !headerHasToken(r.Header, "Connection", "upgrade"):
		h.Set("Upgrade", "websocket")
		h.Set("Connection", "Upgrade")
		return http.StatusUpgradeRequired, expects
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		h.Set("Sec-WebSocket-Version", "13")
		return http.StatusUpgradeRequired, expects + " of version 13 (Sec-WebSocket-Version: 13)"
	case r.Header.Get("Sec-WebSocket-Key") == "":
		return http.StatusBadRequest, expects + ": Sec-WebSocket-Key is missing"
	}
	return 0, ""
}

// headerHasToken reports whether the comma-separated header name lists token, in
// any case ("Connection: keep-alive, Upgrade" does).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}
