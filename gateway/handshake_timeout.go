package gateway

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
)

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
