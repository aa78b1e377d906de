package push

import (
	"context"
	"errors"
	"fmt"

	"github.com/herald-push/herald/wire"
)

// ErrNoProvider says no provider is configured for a target's kind: the
// notification is not sent (a permanent outcome), and the target is kept
// for when one is.
var ErrNoProvider = errors.New("push: no provider configured for this kind")

// Senders routes each target to the Sender of its kind.
type Senders struct {
	byKind map[string]Sender
}

// NewSenders routes by kind (wire.KindWebPush, KindFCM, KindAPNs); a nil
// Sender counts as not configured.
func NewSenders(byKind map[string]Sender) *Senders {
	m := make(map[string]Sender, len(byKind))
	for kind, s := range byKind {
		if s != nil {
			m[kind] = s
		}
	}
	return &Senders{byKind: m}
}

// Send hands n to the Sender of t's kind.
func (s *Senders) Send(ctx context.Context, t wire.PushTarget, n Notification) error {
	sender, ok := s.byKind[t.Kind]
	if !ok {
		return fmt.Errorf("push: %q target: %w", t.Kind, ErrNoProvider)
	}
	return sender.Send(ctx, t, n)
}

// Has says whether a provider is configured for kind.
func (s *Senders) Has(kind string) bool {
	_, ok := s.byKind[kind]
	return ok
}

var (
	_ Sender = (*Senders)(nil)
	_ Sender = (*WebPush)(nil)
	_ Sender = (*FCM)(nil)
	_ Sender = (*APNs)(nil)
)
