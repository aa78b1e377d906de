package actors

import (
	"context"
	"log/slog"

	"github.com/herald-push/herald/wire"
)

// History is what sessions need from the history streams.
type History interface {
	Top(ctx context.Context, r wire.Recipient) (wire.Offset, error)
	Replay(ctx context.Context, r wire.Recipient, since wire.Offset, page func([]*wire.Push) error) (last wire.Offset, complete bool, err error)
	// ReplayAfter is Replay for a start the node chose (no completeness to judge).
	ReplayAfter(ctx context.Context, r wire.Recipient, since wire.Offset, page func([]*wire.Push) error) (last wire.Offset, err error)
	// LiveOnly reports whether r keeps no history (a live-only topic): with
	// nothing to replay, its subscribed frame waits until this node is in r's
	// presence, so that every push after the frame reaches the session.
	LiveOnly(r wire.Recipient) bool
}

// Cursors stores devices' last acked offsets.
type Cursors interface {
	Get(ctx context.Context, user, device string) (wire.Offset, bool, error)
	Set(user, device string, o wire.Offset)
}

// Presence lists this node in a recipient's presence set in Redis.
type Presence interface {
	Add(r wire.Recipient, ready func())
	Remove(r wire.Recipient)
}

// Policy is the topic policy.
type Policy interface {
	CanSubscribe(user, topic string, granted []string) bool
	CanPublish(user, topic string) bool
}

// SessionLimit enforces limits.max_sessions_per_user across the cluster.
type SessionLimit interface {
	Enabled() bool
	Acquire(ctx context.Context, user string) (bool, error)
	Release(user string)
}

// Acks learns which user pushes a device handled (delivery.ack_timeout).
type Acks interface {
	Ack(user string, o wire.Offset)
}

// Socket is the connection a session writes to. Implementations put a deadline on
// every write; a failed write closes the connection.
type Socket interface {
	// WriteText writes one text message made of parts, concatenated.
	WriteText(parts ...[]byte) error
	// Ping pings the client (or closes a connection whose client went silent).
	Ping() error
	// Close sends a close frame with code and reason and closes the connection.
	Close(code uint16, reason string)
}

// Upstream stores what clients send: send frames for backends, publish frames as
// topic pushes. Errors that are a client's fault implement Rejection.
type Upstream interface {
	Send(ctx context.Context, m wire.UpMessage) (string, error)
	Publish(ctx context.Context, topic, from string, data []byte) (string, error)
}

// PushTargets stores the push-notification targets of users' devices
// (docs/PROTOCOL.md section 9): one per device and kind, replaced by the next
// registration of the same kind.
type PushTargets interface {
	Put(ctx context.Context, user, device string, t wire.PushTarget) error
	Remove(ctx context.Context, user, device, kind string) error
	List(ctx context.Context, user string) ([]wire.RegisteredTarget, error)
}

// rejection is how Upstream marks an error as the client's (a bad payload), which
// is not worth a retry; anything else is the node's (Redis) and is retryable.
type rejection interface{ Rejected() bool }

// Deps are the Redis-backed services the actors use.
type Deps struct {
	History  History
	Cursors  Cursors
	Presence Presence
	Limit    SessionLimit
	Acks     Acks
	Upstream Upstream
	// PushTargets serves register, unregister and targets frames; nil answers
	// them with unavailable.
	PushTargets PushTargets
	// Index and Subscribers, when set, learn of sessions and topic subscriber
	// counts for the server API's queries.
	Index       SessionIndex
	Subscribers Subscribers
	Log         *slog.Logger
	Metrics     *Metrics
}
