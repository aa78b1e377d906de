package notify

import (
	"context"
	"log/slog"
	"time"

	"github.com/herald-push/herald/gateway/push"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

// Events is the undelivered stream through the worker's consumer group
// (streams.PushEvents). Read and Claim are called by one goroutine only.
type Events interface {
	Read(ctx context.Context, count int, block time.Duration) ([]streams.UndeliveredEvent, error)
	Claim(ctx context.Context, minIdle time.Duration, count int) ([]streams.UndeliveredEvent, error)
	Keep(ctx context.Context, ids []string) error
	Ack(ctx context.Context, ids ...string) error
	DeadLetter(ctx context.Context, e streams.UndeliveredEvent, reason string) error
}

// Ledger is the per-push memory of settled targets and the rate limit
// (streams.PushLedger).
type Ledger interface {
	Admit(ctx context.Context, user, pushID string) (bool, error)
	Settled(ctx context.Context, user, pushID string) (map[string]string, error)
	Settle(ctx context.Context, user, pushID, target, outcome string) error
}

// Lookup reads a push's acks and history entry (streams.PushLookup).
type Lookup interface {
	State(ctx context.Context, user string, off wire.Offset) (streams.PushState, error)
}

// Targets is the store of users' push targets (streams.PushTargets).
type Targets interface {
	List(ctx context.Context, user string) ([]streams.DeviceTarget, error)
	RemoveGone(ctx context.Context, user, device string, t wire.PushTarget) error
}

// Deps are the worker's collaborators.
type Deps struct {
	Events  Events
	Ledger  Ledger
	Lookup  Lookup
	Targets Targets
	Sender  push.Sender
	Log     *slog.Logger
	Metrics *Metrics
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

var (
	_ Events  = (*streams.PushEvents)(nil)
	_ Ledger  = (*streams.PushLedger)(nil)
	_ Lookup  = (*streams.PushLookup)(nil)
	_ Targets = (*streams.PushTargets)(nil)
)
