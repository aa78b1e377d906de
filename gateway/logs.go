package gateway

import (
	"context"
	"errors"
	stdlog "log"
	"log/slog"
	"net/http"
	"strings"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/wire"
)

// The gateway's log lines. Sessions opening and closing and refused handshakes
// are logged at debug: one line each, which a busy node cannot afford at info,
// checked with Enabled before anything is built. A slow consumer's close is
// logged at info, as something an operator wants to hear of. The node's logger
// limits each kind of line (internal/loglimit), so that a flood of handshakes
// costs a few lines and a count.
const (
	msgOpened       = "session opened"
	msgClosed       = "session closed"
	msgSlowConsumer = "session closed: slow consumer"
	msgRefused      = "handshake refused"
)

// sessionInfo is what the log lines of a session say about it.
type sessionInfo struct {
	id, user, device, remote string
}

func (i sessionInfo) attrs(node string) []slog.Attr {
	return []slog.Attr{slog.String("session", i.id), slog.String("user", i.user), slog.String("device", i.device),
		slog.String("node", node), slog.String("remote", i.remote)}
}

// logRefused logs a handshake answered with status before the upgrade.
func (s *Server) logRefused(r *http.Request, status int, reason string) {
	if !s.deps.Log.Enabled(r.Context(), slog.LevelDebug) {
		return
	}
	s.deps.Log.LogAttrs(r.Context(), slog.LevelDebug, msgRefused, slog.Int("status", status),
		slog.String("reason", reason), slog.String("remote", r.RemoteAddr), slog.String("node", s.cfg.Node))
}

// logOpened logs a session the actors opened.
func (s *Server) logOpened(info sessionInfo) {
	if s.deps.Log.Enabled(context.Background(), slog.LevelDebug) {
		s.deps.Log.LogAttrs(context.Background(), slog.LevelDebug, msgOpened, info.attrs(s.cfg.Node)...)
	}
}

// logClosed logs a session's end, from OnClose: who closed it, with which code
// and reason.
func (e *events) logClosed(sock *socket, err error) {
	code, reason, by := sock.closedWith(err)
	level, msg := slog.LevelDebug, msgClosed
	if code == wire.CloseSlowConsumer && by == "node" {
		level, msg = slog.LevelInfo, msgSlowConsumer
	}
	if !e.log.Enabled(context.Background(), level) {
		return
	}
	attrs := append(sock.info.attrs(e.node), slog.Int("code", int(code)), slog.String("reason", reason), slog.String("by", by))
	e.log.LogAttrs(context.Background(), level, msg, attrs...)
}

// closedWith says how the connection ended: the close frame this node sent, the
// client's, a frame gws refused (1009), or a connection that just ended (1006).
func (s *socket) closedWith(err error) (code uint16, reason, by string) {
	s.mu.Lock()
	code, reason = s.sentCode, s.sentReason
	s.mu.Unlock()
	var ce *gws.CloseError
	var status interface{ Uint16() uint16 }
	switch {
	case code != 0:
		return code, reason, "node"
	case s.idle.Load():
		return 1006, "client silent for gateway.ping_timeout", "node"
	case errors.As(err, &ce):
		return ce.Code, string(ce.Reason), "client"
	case errors.As(err, &status):
		return status.Uint16(), err.Error(), "node"
	case err != nil:
		return 1006, "connection lost: " + err.Error(), "client"
	}
	return 1006, "connection lost", "client"
}

// httpErrorLog sends net/http's own messages (TLS handshake errors, requests it
// refuses itself) to slog under one message with the text as an attribute: the
// text names the remote address, and as messages every address would be a kind
// of its own to the node's limiter.
func httpErrorLog(log *slog.Logger) *stdlog.Logger {
	return stdlog.New(httpLogWriter{log}, "", 0)
}

type httpLogWriter struct{ log *slog.Logger }

func (w httpLogWriter) Write(p []byte) (int, error) {
	w.log.Warn("http server", "detail", strings.TrimSpace(string(p)))
	return len(p), nil
}
