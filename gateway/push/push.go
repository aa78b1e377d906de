package push

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/herald-push/herald/wire"
)

// Notification is what one push becomes on a platform push service.
type Notification struct {
	// ID is the push id (section 4). Providers use it to make a retry of the
	// same notification recognisable where the platform allows (APNs
	// apns-id is a UUID, so it is derived; FCM and Web Push carry it in the
	// payload).
	ID string
	// Payload is the push frame of docs/PROTOCOL.md section 4 as JSON: the
	// Web Push body before encryption, and the "push" data field on FCM and
	// APNs.
	Payload []byte
	// Title and Body are the visible alert, mapped from the push's data by
	// configuration; empty sends a data-only (silent) notification.
	Title, Body string
	// Data are extra key/value pairs for FCM data and APNs custom keys.
	Data map[string]string
	// CollapseKey makes a newer notification replace an older undelivered
	// one on the device (Web Push Topic, FCM collapse_key, apns-collapse-id).
	CollapseKey string
	// TTL is how long the platform keeps the notification for an offline
	// device; 0 means deliver now or drop.
	TTL time.Duration
}

// Sender delivers one notification to one target. It is safe for
// concurrent use.
type Sender interface {
	Send(ctx context.Context, t wire.PushTarget, n Notification) error
}

// ErrGone says the platform no longer knows the target (HTTP 404/410,
// UNREGISTERED, BadDeviceToken, ...): the caller removes it and does not
// retry.
var ErrGone = errors.New("push: target gone")

// RetryableError says the platform refused for now (429, 5xx, a network
// error): the caller retries after After (0: its own backoff).
type RetryableError struct {
	After time.Duration
	Err   error
}

func (e *RetryableError) Error() string { return fmt.Sprintf("push: retryable: %v", e.Err) }
func (e *RetryableError) Unwrap() error { return e.Err }

// Any other error from Send is permanent for that notification (a payload
// the platform refuses, bad credentials): the caller counts and logs it and
// does not retry the same notification.
