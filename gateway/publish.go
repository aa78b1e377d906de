package gateway

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/herald-push/herald/streams"
)

// publishBody is the JSON of POST /v1/publish.
type publishBody struct {
	To    string          `json:"to"`
	Topic string          `json:"topic"`
	Data  json.RawMessage `json:"data"`
	ID    string          `json:"id"`
	From  string          `json:"from"`
	TTL   int64           `json:"ttl"`
}

// servePublish is POST /v1/publish (docs/PROTOCOL.md section 1): 202 with the
// ingress entry id, or a status and a JSON reason, and then nothing was accepted.
func (s *Server) servePublish(w http.ResponseWriter, r *http.Request) {
	if s.refuseAPI(w, r, "publishing over HTTP", http.MethodPost) != "" {
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
	writePublished(w, id, err)
}

// refuseAPI checks what /v1/publish and the server API share: the endpoint is on
// (publish.api_key set), the method is one of methods, the embedded mode's dev
// key is used from this machine, and the request carries the key. It answers a
// refusal itself and returns its outcome label, or "" when the request may go on.
func (s *Server) refuseAPI(w http.ResponseWriter, r *http.Request, what string, methods ...string) string {
	if s.cfg.PublishAPIKey == "" {
		writeError(w, http.StatusNotFound, what+" is off: set publish.api_key")
		return "off"
	}
	if !slices.Contains(methods, r.Method) {
		w.Header().Set("Allow", strings.Join(methods, ", "))
		writeError(w, http.StatusMethodNotAllowed, "use "+strings.Join(methods, " or "))
		return "method"
	}
	if s.cfg.PublishLoopbackOnly && !fromLoopback(r) {
		writeError(w, http.StatusForbidden, "the embedded mode's API key answers only clients on this machine; set publish.api_key to call it from elsewhere")
		return "forbidden"
	}
	if subtle.ConstantTimeCompare([]byte(bearerKey(r)), []byte(s.cfg.PublishAPIKey)) != 1 {
		writeError(w, http.StatusUnauthorized, "missing or wrong API key: send Authorization: Bearer <publish.api_key>")
		return "unauthorized"
	}
	return ""
}

// writePublished answers with the outcome of the append.
func writePublished(w http.ResponseWriter, id string, err error) {
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

// decodePublish reads one publish object. The body may exceed the payload limit by
// 4 KiB, for the other fields and the JSON around data; the publisher checks data
// itself against the limit.
func decodePublish(w http.ResponseWriter, r *http.Request, maxPayload int) (publishBody, int, error) {
	var body publishBody
	if status, err := decodeJSON(w, r, int64(maxPayload)+4096, "a publish object", &body); err != nil {
		return body, status, err
	}
	if len(body.Data) == 0 {
		return body, http.StatusBadRequest, errors.New("missing data")
	}
	if body.TTL < 0 {
		return body, http.StatusBadRequest, errors.New("bad ttl: a positive number of seconds")
	}
	return body, 0, nil
}

// bearerKey is the credential of "Authorization: Bearer <key>"; the scheme is
// case-insensitive (RFC 9110), as on /ws. Anything else, a bare key included,
// is no credential.
func bearerKey(r *http.Request) string {
	scheme, key, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(key)
}

// fromLoopback reports whether the request came from this machine, as the dev
// endpoints of gateway/web check it: the embedded mode listens on every
// interface, and its keys are for trying Herald out on one machine.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}
