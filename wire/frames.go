package wire

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Error codes carried by error frames.
const (
	CodeBadFrame    = "bad_frame"    // not JSON, unknown type, missing or invalid field, payload over its limit
	CodeForbidden   = "forbidden"    // the token or policy does not allow it
	CodeRateLimited = "rate_limited" // too many frames
	CodeUnavailable = "unavailable"  // Redis unreachable: nothing stored, retry later
	CodeLimit       = "limit"        // a per-session limit (e.g. subscriptions) is reached
)

// Close codes, docs/PROTOCOL.md section 6.
const (
	CloseGoingAway       uint16 = 1001 // node draining
	CloseInternal        uint16 = 1011
	CloseTokenExpired    uint16 = 4001
	ClosePolicy          uint16 = 4003
	CloseSlowConsumer    uint16 = 4008
	CloseTooManySessions uint16 = 4009
	// CloseServiceRestart: the operator asked the session to reconnect
	// (POST /v1/disconnect with reconnect true); the client resumes with since at once.
	CloseServiceRestart uint16 = 1012
	// CloseDisconnected: disconnected by the operator; the client must not
	// reconnect without its user's action.
	CloseDisconnected uint16 = 4010
)

// Welcome is the first frame of every session. offset is the user-stream position
// the session starts after (the client's since, its device cursor, or the history
// top): a client that disconnects before any push resumes from it, so that nothing
// published meanwhile is lost.
func Welcome(session, node, user string, offset Offset) []byte {
	return mustJSON(struct {
		Type    string `json:"type"`
		Session string `json:"session"`
		Node    string `json:"node"`
		User    string `json:"user"`
		Offset  string `json:"offset"`
	}{"welcome", session, node, user, offset.String()})
}

// Recovered ends a replay from history.
func Recovered(r Recipient, complete bool) []byte {
	b := append([]byte(`{"type":"recovered","`), r.field()...)
	b = append(b, `":`...)
	b = AppendString(b, r.Name)
	if complete {
		return append(b, `,"complete":true}`...)
	}
	return append(b, `,"complete":false}`...)
}

// ErrorFrame is the answer to a request the session could not serve; the session stays open.
type ErrorFrame struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
	Topic  string `json:"topic,omitempty"`
	Ref    string `json:"ref,omitempty"`
}

func (e *ErrorFrame) Error() string { return e.Code + ": " + e.Reason }

// Bytes renders e as an error frame.
func (e *ErrorFrame) Bytes() []byte {
	return mustJSON(struct {
		Type string `json:"type"`
		*ErrorFrame
	}{"error", e})
}

// Errorf builds an error frame.
func Errorf(code, format string, args ...any) *ErrorFrame {
	return &ErrorFrame{Code: code, Reason: fmt.Sprintf(format, args...)}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only fixed struct types of this file reach here; they always marshal.
		panic(errors.Join(errors.New("wire: marshal"), err))
	}
	return b
}
