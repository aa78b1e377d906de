package gateway

import (
	"time"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

// Closer closes the local sessions a match selects (actors.System).
type Closer interface {
	CloseMatching(m actors.Match, code uint16, reason string)
}

// ApplyControl is what a node does with each control stream entry: it closes
// its sessions that the disconnect or the revocation selects. A disconnect
// closes with 4010 and its reason, or 1012 when the client may reconnect; a
// revocation closes with 4001, as an expired token does.
func ApplyControl(c Closer) func(streams.ControlOp) {
	return func(o streams.ControlOp) {
		if o.Op == streams.OpRevoke {
			m := actors.Match{TokenID: o.JTI, User: o.User}
			if o.JTI == "" {
				m.IssuedBefore = time.Unix(o.IssuedBefore, 0)
			}
			c.CloseMatching(m, wire.CloseTokenExpired, "token revoked")
			return
		}
		code, reason := wire.CloseDisconnected, o.Reason
		if o.Reconnect {
			code = wire.CloseServiceRestart
		}
		if reason == "" {
			reason = "disconnected by the operator"
		}
		c.CloseMatching(actors.Match{User: o.User, Device: o.Device, Session: o.Session}, code, reason)
	}
}
