package gateway

import (
	"context"
	"net/http"
	"time"
)

// readyTimeout bounds the readiness check: a probe must get an answer, and a
// Redis that takes longer than this to answer PING is not ready.
const readyTimeout = 2 * time.Second

// serveHealth is /healthz: the process answers HTTP. It checks nothing else, so
// that an orchestrator does not restart a node for Redis being away.
func serveHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// serveReady is /readyz: 200 when Deps.Ready passes, 503 with its error otherwise;
// Deps.Warnings are listed either way without changing the status.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
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
