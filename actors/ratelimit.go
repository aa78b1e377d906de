package actors

import (
	"time"

	"github.com/herald-push/herald/wire"
)

// allow counts one frame in a one-second window: over limit it is refused with an
// error frame, and after as many refusals again in the same second the session is
// closed with 4003 (docs/PROTOCOL.md section 5: repeated abuse).
func (s *session) allow(w *rateWindow, limit int, f wire.ClientFrame, reason string) bool {
	now := time.Now()
	if now.Sub(w.start) >= time.Second {
		*w = rateWindow{start: now}
	}
	w.count++
	if w.count <= limit {
		return true
	}
	w.refused++
	s.sys.deps.Metrics.RateLimited.Inc()
	if w.refused > limit {
		if !s.closing {
			s.sys.deps.Metrics.PolicyClosed.Inc()
		}
		s.close(wire.ClosePolicy, "too many messages")
		return false
	}
	s.refuse(f, wire.CodeRateLimited, reason)
	return false
}

// rateWindow counts frames in the current second.
type rateWindow struct {
	start          time.Time
	count, refused int
}
