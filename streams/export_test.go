package streams

import "time"

// SetUndeliveredClaim shortens how long an emitter's claim on overdue offsets
// lasts, so that a test sees a failed emit retried within seconds.
func SetUndeliveredClaim(u *Undelivered, d time.Duration) { u.claim = d }

// WaitMarker and CommandKey expose how WAIT finds the masters of a pipeline on
// Redis Cluster.
var (
	WaitMarker = waitMarker
	CommandKey = commandKey
)
