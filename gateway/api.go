package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

// ServerAPI is what the server API (docs/PROTOCOL.md section 8) calls; with
// Control unset its endpoints answer 404.
type ServerAPI struct {
	Control interface {
		Append(ctx context.Context, o streams.ControlOp) (string, error)
	}
	Queries interface {
		Sessions(ctx context.Context, user string) ([]streams.SessionDetail, error)
		Devices(ctx context.Context, users []string) (map[string][]string, error)
		Stats(ctx context.Context) (streams.Stats, error)
		Subscribers(ctx context.Context, topic string) (int64, error)
	}
	History interface {
		Page(ctx context.Context, r wire.Recipient, since wire.Offset, hasSince bool, limit int) ([]*wire.Push, bool, error)
	}
	// Revocations is checked at connect: a revoked token is refused with 401.
	Revocations interface {
		Revoked(user, jti string, iat time.Time) bool
	}
}

// Server API bounds.
const (
	maxAPIBody        = 256 << 10 // a presence batch of 1,000 user ids of 128 bytes fits
	maxPresenceBatch  = 1000
	defaultHistoryLim = 50
	maxHistoryLimit   = 1000
)

// apiFunc serves one server API call after the shared checks: it returns the
// status and the JSON answer, or for a status of 400 and above the reason.
type apiFunc func(r *http.Request) (int, any)

// api wraps h with the checks of /v1/publish (key, method, dev key from
// loopback only), counts the call by op and outcome, and writes the answer.
func (s *Server) api(op string, h apiFunc, methods ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.deps.API.Control == nil {
			writeError(w, http.StatusNotFound, "the server API is not available on this node")
			return
		}
		if refused := s.refuseAPI(w, r, "the server API", methods...); refused != "" {
			s.deps.Metrics.API.WithLabelValues(op, refused).Inc()
			return
		}
		status, v := h(r)
		s.deps.Metrics.API.WithLabelValues(op, outcomeOf(status)).Inc()
		if reason, ok := v.(string); ok && status >= 400 {
			writeError(w, status, reason)
			return
		}
		writeJSON(w, status, v)
	}
}

// outcomeOf is the metric label of a status.
func outcomeOf(status int) string {
	switch {
	case status < 400:
		return "ok"
	case status == http.StatusServiceUnavailable:
		return "unavailable"
	}
	return "bad_request"
}

// apiRoutes adds the server API to mux.
func (s *Server) apiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("/v1/disconnect", s.api("disconnect", s.disconnect, http.MethodPost))
	mux.HandleFunc("/v1/revoke", s.api("revoke", s.revoke, http.MethodPost))
	mux.HandleFunc("/v1/presence", s.api("presence", s.presence, http.MethodGet, http.MethodPost))
	mux.HandleFunc("/v1/stats", s.api("stats", s.stats, http.MethodGet))
	mux.HandleFunc("/v1/topics/", s.api("topics", s.topic, http.MethodGet))
	mux.HandleFunc("/v1/history", s.api("history", s.history, http.MethodGet))
}

// unavailable is the answer when Redis failed: nothing changed, retry.
func unavailable() (int, any) {
	return http.StatusServiceUnavailable, "redis unavailable; retry later (a retry is harmless)"
}

// badRequest is a 400 with reason.
func badRequest(format string, args ...any) (int, any) {
	return http.StatusBadRequest, fmt.Sprintf(format, args...)
}

// decodeBody reads one JSON object into v, refusing unknown fields, trailing
// values and bodies over maxAPIBody (all with 400, as the server API says).
func decodeBody(r *http.Request, v any) error {
	_, err := decodeJSON(nil, r, maxAPIBody, "the expected JSON object", v)
	return err
}

// decodeJSON reads one JSON object (what, for the reason) of at most limit
// bytes into v, refusing unknown fields and trailing values. The status is 413
// for a body over limit, 400 otherwise. w, when not nil, lets the server close
// the connection after a body over limit instead of reading the rest.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, what string, v any) (int, error) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, fmt.Errorf("body over %d bytes", tooBig.Limit)
		}
		return http.StatusBadRequest, fmt.Errorf("body is not %s: %v", what, err)
	}
	if dec.More() {
		return http.StatusBadRequest, errors.New("body has more than one JSON value")
	}
	return 0, nil
}

// appendControl appends o to the control stream: 202 with its entry id.
func (s *Server) appendControl(r *http.Request, o streams.ControlOp) (int, any) {
	id, err := s.deps.API.Control.Append(r.Context(), o)
	var rej streams.Rejection
	switch {
	case errors.As(err, &rej):
		return badRequest("%s", rej.Error())
	case errors.Is(err, streams.ErrNotReplicated):
		// Written, but a failover could lose it; a retry is harmless.
		return http.StatusServiceUnavailable, "redis replicas did not confirm the write in time (redis.wait_replicas); retry"
	case err != nil:
		return unavailable()
	}
	return http.StatusAccepted, map[string]string{"id": id}
}

// disconnect is POST /v1/disconnect.
func (s *Server) disconnect(r *http.Request) (int, any) {
	var body struct {
		User      string `json:"user"`
		Device    string `json:"device"`
		Session   string `json:"session"`
		Reason    string `json:"reason"`
		Reconnect bool   `json:"reconnect"`
	}
	if err := decodeBody(r, &body); err != nil {
		return badRequest("%v", err)
	}
	return s.appendControl(r, streams.ControlOp{Op: streams.OpDisconnect, User: body.User, Device: body.Device,
		Session: body.Session, Reason: body.Reason, Reconnect: body.Reconnect})
}

// revoke is POST /v1/revoke.
func (s *Server) revoke(r *http.Request) (int, any) {
	var body struct {
		JTI          string `json:"jti"`
		User         string `json:"user"`
		IssuedBefore int64  `json:"issued_before"`
	}
	if err := decodeBody(r, &body); err != nil {
		return badRequest("%v", err)
	}
	return s.appendControl(r, streams.ControlOp{Op: streams.OpRevoke, JTI: body.JTI, User: body.User, IssuedBefore: body.IssuedBefore})
}

// onlyParams refuses query parameters other than allowed.
func onlyParams(q url.Values, allowed ...string) error {
	for k := range q {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("unknown parameter %q", truncateName(k))
		}
	}
	return nil
}

// truncateName shortens a caller's string for a reason.
func truncateName(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// presence is GET /v1/presence?user= (one user's sessions) and POST /v1/presence
// (online and devices of up to 1,000 users).
func (s *Server) presence(r *http.Request) (int, any) {
	if r.Method == http.MethodPost {
		return s.presenceBatch(r)
	}
	q := r.URL.Query()
	if err := onlyParams(q, "user"); err != nil {
		return badRequest("%v", err)
	}
	user := q.Get("user")
	if wire.ValidName(user) != nil {
		return badRequest("bad or missing user: ?user=<user id>, 1 to 128 bytes of [A-Za-z0-9_.:@-]")
	}
	sessions, err := s.deps.API.Queries.Sessions(r.Context(), user)
	if err != nil {
		return unavailable()
	}
	return http.StatusOK, map[string]any{"user": user, "online": len(sessions) > 0, "sessions": sessions}
}

// presenceBatch is POST /v1/presence.
func (s *Server) presenceBatch(r *http.Request) (int, any) {
	var body struct {
		Users []string `json:"users"`
	}
	if err := decodeBody(r, &body); err != nil {
		return badRequest("%v", err)
	}
	if len(body.Users) == 0 || len(body.Users) > maxPresenceBatch {
		return badRequest("users: 1 to %d user ids, got %d", maxPresenceBatch, len(body.Users))
	}
	for _, u := range body.Users {
		if wire.ValidName(u) != nil {
			return badRequest("bad user id %q: 1 to 128 bytes of [A-Za-z0-9_.:@-]", truncateName(u))
		}
	}
	devices, err := s.deps.API.Queries.Devices(r.Context(), body.Users)
	if err != nil {
		return unavailable()
	}
	users := make(map[string]any, len(body.Users))
	for _, u := range body.Users {
		if d, ok := devices[u]; ok {
			users[u] = map[string]any{"online": true, "devices": d}
		} else {
			users[u] = map[string]any{"online": false}
		}
	}
	return http.StatusOK, map[string]any{"users": users}
}

// stats is GET /v1/stats.
func (s *Server) stats(r *http.Request) (int, any) {
	if err := onlyParams(r.URL.Query()); err != nil {
		return badRequest("%v", err)
	}
	st, err := s.deps.API.Queries.Stats(r.Context())
	if err != nil {
		return unavailable()
	}
	return http.StatusOK, st
}

// topic is GET /v1/topics/<topic>.
func (s *Server) topic(r *http.Request) (int, any) {
	topic := strings.TrimPrefix(r.URL.Path, "/v1/topics/")
	if wire.ValidName(topic) != nil {
		return badRequest("bad topic name: /v1/topics/<topic>, 1 to 128 bytes of [A-Za-z0-9_.:@-]")
	}
	if err := onlyParams(r.URL.Query()); err != nil {
		return badRequest("%v", err)
	}
	n, err := s.deps.API.Queries.Subscribers(r.Context(), topic)
	if err != nil {
		return unavailable()
	}
	return http.StatusOK, map[string]any{"topic": topic, "subscribers": n}
}

// historyQuery is a parsed GET /v1/history.
type historyQuery struct {
	r        wire.Recipient
	since    wire.Offset
	hasSince bool
	limit    int
}

// parseHistoryQuery reads ?user= or ?topic=, limit and since.
func parseHistoryQuery(q url.Values) (historyQuery, error) {
	hq := historyQuery{limit: defaultHistoryLim}
	if err := onlyParams(q, "user", "topic", "limit", "since"); err != nil {
		return hq, err
	}
	var err error
	if hq.r, err = historyRecipient(q.Get("user"), q.Get("topic")); err != nil {
		return hq, err
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxHistoryLimit {
			return hq, fmt.Errorf("bad limit: 1 to %d", maxHistoryLimit)
		}
		hq.limit = n
	}
	if v := q.Get("since"); v != "" {
		o, err := wire.ParseOffset(v)
		if err != nil {
			return hq, errors.New(`bad since: an offset like "1700000000000-0"`)
		}
		hq.since, hq.hasSince = o, true
	}
	return hq, nil
}

// historyRecipient is the one of user and topic given.
func historyRecipient(user, topic string) (wire.Recipient, error) {
	var r wire.Recipient
	switch {
	case (user == "") == (topic == ""):
		return r, errors.New("give one of user and topic")
	case user != "":
		r = wire.User(user)
	default:
		r = wire.Topic(topic)
	}
	if wire.ValidName(r.Name) != nil {
		return r, errors.New("bad user id or topic name: 1 to 128 bytes of [A-Za-z0-9_.:@-]")
	}
	return r, nil
}

// history is GET /v1/history: push frames as clients get them, oldest first.
func (s *Server) history(r *http.Request) (int, any) {
	hq, err := parseHistoryQuery(r.URL.Query())
	if err != nil {
		return badRequest("%v", err)
	}
	pushes, complete, err := s.deps.API.History.Page(r.Context(), hq.r, hq.since, hq.hasSince, hq.limit)
	if err != nil {
		return unavailable()
	}
	frames := make([]json.RawMessage, len(pushes))
	for i, p := range pushes {
		frames[i] = p.Frame
	}
	return http.StatusOK, map[string]any{"pushes": frames, "complete": complete}
}
