package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-push/herald/wire"
)

// Match selects sessions for an operator's close (docs/PROTOCOL.md section 8). Set
// fields must all match; at least User or TokenID is set.
type Match struct {
	User    string
	Device  string // with User: that device's sessions only
	Session string // with User: that session only
	TokenID string // the token's jti
	// IssuedBefore, with User: sessions whose token was issued before it (or
	// carries no iat, which cannot prove it newer).
	IssuedBefore time.Time
}

// matches reports whether the session of spec is selected.
func (m Match) matches(spec *SessionSpec) bool {
	switch {
	case m.User != "" && spec.User != m.User,
		m.Device != "" && spec.Device != m.Device,
		m.Session != "" && spec.ID != m.Session,
		m.TokenID != "" && spec.TokenID != m.TokenID:
		return false
	case !m.IssuedBefore.IsZero():
		return spec.IssuedAt < m.IssuedBefore.Unix()
	}
	return m.User != "" || m.TokenID != ""
}

// SessionIndex is told of sessions opening and closing, so that the presence
// query can list them across the cluster.
type SessionIndex interface {
	Opened(user, id, device string, since time.Time)
	Closed(user, id string)
}

// Subscribers is told how many local sessions a topic has, whenever that changes.
type Subscribers interface {
	Count(r wire.Recipient, n int)
}

// Operator messages.
type (
	// closeMatching asks a shard to pass closeIf to its sessions under m.User
	// (under every user when m has none).
	closeMatching struct{ req *closeIf }
	// closeIf closes the session if m selects it.
	closeIf struct {
		m      Match
		code   uint16
		reason string
	}
)

// CloseMatching closes the local sessions m selects with code and reason (4010
// or 1012 for an operator's disconnect, 4001 for a revoked token). It returns
// once the directory shards have the request; the closes follow within
// milliseconds.
func (s *System) CloseMatching(m Match, code uint16, reason string) {
	msg := &closeMatching{req: &closeIf{m: m, code: code, reason: reason}}
	if m.User != "" {
		s.sys.Root.Send(s.shardOf(wire.User(m.User)), msg)
		return
	}
	for _, pid := range s.shards {
		s.sys.Root.Send(pid, msg)
	}
}

// closeMatching hands the request to each candidate session, whose actor
// checks its own spec: the shard knows handles, not tokens.
func (d *shard) closeMatching(ctx actor.Context, m *closeMatching) {
	if m.req.m.User != "" {
		for _, h := range d.byRcpt[wire.User(m.req.m.User)] {
			ctx.Send(h.pid.Load(), m.req)
		}
		return
	}
	for r, list := range d.byRcpt {
		if r.Kind != wire.KindUser {
			continue
		}
		for _, h := range list {
			ctx.Send(h.pid.Load(), m.req)
		}
	}
}

// closeIf closes this session if the request selects it.
func (s *session) closeIf(m *closeIf) {
	if !m.m.matches(&s.spec) {
		return
	}
	s.sys.deps.Metrics.OperatorClosed.WithLabelValues(closeLabel(m.code)).Inc()
	s.close(m.code, m.reason)
}

// closeLabel is the metric label of an operator's close code.
func closeLabel(code uint16) string {
	switch code {
	case wire.CloseDisconnected:
		return "4010"
	case wire.CloseServiceRestart:
		return "1012"
	case wire.CloseTokenExpired:
		return "4001"
	}
	return "other"
}

// SessionCount is the number of sessions open on this node.
func (s *System) SessionCount() int { return int(s.open.Load()) }
