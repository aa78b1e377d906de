package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

// TargetStore keeps users' push targets (streams.PushTargets).
type TargetStore interface {
	Put(ctx context.Context, user, device string, t wire.PushTarget) error
	Remove(ctx context.Context, user, device, kind string) error // "" device or kind: any
	List(ctx context.Context, user string) ([]streams.DeviceTarget, error)
}

// SessionTargets adapts a TargetStore to the session actors' port
// (actors.PushTargets), which speaks wire types only.
type SessionTargets struct{ Store TargetStore }

// Put stores t for user's device.
func (a SessionTargets) Put(ctx context.Context, user, device string, t wire.PushTarget) error {
	return a.Store.Put(ctx, user, device, t)
}

// Remove removes user's device's target of kind.
func (a SessionTargets) Remove(ctx context.Context, user, device, kind string) error {
	return a.Store.Remove(ctx, user, device, kind)
}

// List lists user's targets, each with the target itself (the session leaves
// it out of its answer).
func (a SessionTargets) List(ctx context.Context, user string) ([]wire.RegisteredTarget, error) {
	list, err := a.Store.List(ctx, user)
	if err != nil {
		return nil, err
	}
	return registered(list), nil
}

// registered converts the store's targets to the wire's, targets included.
func registered(list []streams.DeviceTarget) []wire.RegisteredTarget {
	out := make([]wire.RegisteredTarget, len(list))
	for i, d := range list {
		t := d.Target
		out[i] = wire.RegisteredTarget{Device: d.Device, Kind: t.Kind, Registered: d.RegisteredAt.UnixMilli(), Target: &t}
	}
	return out
}

// targetBody is the JSON of POST /v1/push/targets.
type targetBody struct {
	User   string           `json:"user"`
	Device string           `json:"device"`
	Target *wire.PushTarget `json:"target"`
}

// maxTargetBody bounds a POST body: a target is at most a few KiB (wire's
// bounds on endpoints and tokens).
const maxTargetBody = 16 << 10

// servePushTargets is /v1/push/targets (docs/PROTOCOL.md section 9): a
// backend registers, lists and removes the push targets of its users' devices,
// with the key of /v1/publish.
func (s *Server) servePushTargets(w http.ResponseWriter, r *http.Request) {
	if s.refuseAPI(w, r, "the push targets API", http.MethodGet, http.MethodPost, http.MethodDelete) != "" {
		return
	}
	if s.deps.PushTargets == nil {
		writeError(w, http.StatusNotFound, "push targets are not stored on this node")
		return
	}
	switch r.Method {
	case http.MethodPost:
		s.postTarget(w, r)
	case http.MethodGet:
		s.listTargets(w, r)
	default:
		s.deleteTargets(w, r)
	}
}

// postTarget registers a target for a user's device: 204 once stored.
func (s *Server) postTarget(w http.ResponseWriter, r *http.Request) {
	body, status, err := decodeTarget(w, r, s.cfg.AllowHTTPPush)
	kind := "unknown"
	if body.Target != nil && wire.ValidKind(body.Target.Kind) {
		kind = body.Target.Kind
	}
	if err != nil {
		s.deps.Metrics.APIRegistrations.WithLabelValues(kind, "bad_target").Inc()
		writeError(w, status, err.Error())
		return
	}
	if err := s.deps.PushTargets.Put(r.Context(), body.User, body.Device, *body.Target); err != nil {
		s.deps.Metrics.APIRegistrations.WithLabelValues(kind, "unavailable").Inc()
		writeError(w, http.StatusServiceUnavailable, "redis unavailable; nothing was stored, retry later")
		return
	}
	s.deps.Metrics.APIRegistrations.WithLabelValues(kind, "registered").Inc()
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// decodeTarget reads and checks one target object; unknown fields are refused.
func decodeTarget(w http.ResponseWriter, r *http.Request, allowHTTP bool) (targetBody, int, error) {
	var body targetBody
	if status, err := decodeJSON(w, r, maxTargetBody, `a target object {"user","device","target"}`, &body); err != nil {
		return body, status, err
	}
	if err := checkTarget(body, allowHTTP); err != nil {
		return body, http.StatusBadRequest, err
	}
	return body, 0, nil
}

// checkTarget says what is wrong with a decoded target body, or nil.
func checkTarget(body targetBody, allowHTTP bool) error {
	if err := wire.ValidName(body.User); err != nil {
		return fmt.Errorf("bad user: %w", err)
	}
	if err := wire.ValidName(body.Device); err != nil {
		return fmt.Errorf("bad device: %w", err)
	}
	if body.Target == nil {
		return errors.New("missing target")
	}
	if err := body.Target.Validate(allowHTTP); err != nil {
		return fmt.Errorf("bad target: %w", err)
	}
	return nil
}

// listTargets answers a user's targets, the targets themselves included: the
// caller holds the API key, as trusted as the backend that registered them.
func (s *Server) listTargets(w http.ResponseWriter, r *http.Request) {
	q, err := targetQuery(r.URL.Query(), false)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	list, err := s.deps.PushTargets.List(r.Context(), q.user)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "redis unavailable; retry later")
		return
	}
	writeJSON(w, http.StatusOK, struct {
		User    string                  `json:"user"`
		Targets []wire.RegisteredTarget `json:"targets"`
	}{q.user, registered(list)})
}

// deleteTargets removes a user's targets: all of them, one device's, or one
// kind's, in one step.
func (s *Server) deleteTargets(w http.ResponseWriter, r *http.Request) {
	q, err := targetQuery(r.URL.Query(), true)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.deps.PushTargets.Remove(r.Context(), q.user, q.device, q.kind); err != nil {
		writeError(w, http.StatusServiceUnavailable, "redis unavailable; retry")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// targetParams are the query of GET and DELETE /v1/push/targets.
type targetParams struct{ user, device, kind string }

// targetQuery reads user (required), and for DELETE device and kind; any other
// parameter is refused, as unknown body fields are.
func targetQuery(q url.Values, filters bool) (targetParams, error) {
	p := targetParams{user: q.Get("user"), device: q.Get("device"), kind: q.Get("kind")}
	allowed := []string{"user"}
	if filters {
		allowed = append(allowed, "device", "kind")
	}
	if err := onlyParams(q, allowed...); err != nil {
		return p, err
	}
	if err := wire.ValidName(p.user); err != nil {
		return p, fmt.Errorf("bad user: %w", err)
	}
	if p.device != "" && wire.ValidName(p.device) != nil {
		return p, fmt.Errorf("bad device: %w", wire.ErrBadName)
	}
	if p.kind != "" && !wire.ValidKind(p.kind) {
		return p, errors.New("bad kind: webpush, fcm or apns")
	}
	return p, nil
}
