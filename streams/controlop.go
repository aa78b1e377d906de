package streams

import (
	"fmt"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/herald-push/herald/wire"
)

// Control operations (docs/PROTOCOL.md section 8).
const (
	OpDisconnect = "disconnect"
	OpRevoke     = "revoke"
)

// Bounds of a control entry's free-form fields.
const (
	// maxCloseReason is what fits a WebSocket close frame (125 bytes less the code).
	maxCloseReason = 123
	maxTokenID     = 256
)

// ControlOp is one entry of the control stream, or the body of POST
// /v1/disconnect or /v1/revoke.
type ControlOp struct {
	Op           string
	User         string
	Device       string // disconnect: that device's sessions only
	Session      string // disconnect: that session only
	Reason       string // disconnect: the close frame's reason
	Reconnect    bool   // disconnect: 1012 (reconnect now) instead of 4010
	JTI          string // revoke: one token
	IssuedBefore int64  // revoke: the user's tokens issued before it, unix s
}

// controlFields are the fields a control entry may have.
var controlFields = map[string]bool{
	"op": true, "user": true, "device": true, "session": true, "reason": true,
	"reconnect": true, "jti": true, "issued_before": true,
}

// Validate says what is wrong with o, as a Rejection, or nil.
func (o ControlOp) Validate() error {
	switch o.Op {
	case OpDisconnect:
		return o.validateDisconnect()
	case OpRevoke:
		return o.validateRevoke()
	case "":
		return Rejection("missing op: disconnect or revoke")
	}
	return Rejection(fmt.Sprintf("unknown op %q: disconnect or revoke", truncate(o.Op)))
}

func (o ControlOp) validateDisconnect() error {
	switch {
	case o.User == "":
		return Rejection("missing user")
	case wire.ValidName(o.User) != nil:
		return Rejection("bad user id: 1 to 128 bytes of [A-Za-z0-9_.:@-]")
	case o.Device != "" && wire.ValidName(o.Device) != nil:
		return Rejection("bad device: 1 to 128 bytes of [A-Za-z0-9_.:@-]")
	case o.Session != "" && wire.ValidName(o.Session) != nil:
		return Rejection("bad session: a session id as the welcome frame or the presence query gives it")
	case len(o.Reason) > maxCloseReason || !utf8.ValidString(o.Reason):
		return Rejection(fmt.Sprintf("bad reason: at most %d bytes of UTF-8 (it goes in the close frame)", maxCloseReason))
	case o.JTI != "" || o.IssuedBefore != 0:
		return Rejection("jti and issued_before belong to revoke, not disconnect")
	}
	return nil
}

func (o ControlOp) validateRevoke() error {
	switch {
	case o.Device != "" || o.Session != "" || o.Reason != "" || o.Reconnect:
		return Rejection("device, session, reason and reconnect belong to disconnect, not revoke")
	case o.JTI != "" && (o.User != "" || o.IssuedBefore != 0):
		return Rejection(`revoke takes either jti, or user and issued_before, not both`)
	case o.JTI != "":
		if len(o.JTI) > maxTokenID || !utf8.ValidString(o.JTI) {
			return Rejection(fmt.Sprintf("bad jti: at most %d bytes of UTF-8", maxTokenID))
		}
		return nil
	case o.User == "" || o.IssuedBefore == 0:
		return Rejection("revoke needs jti, or user and issued_before (unix seconds)")
	case wire.ValidName(o.User) != nil:
		return Rejection("bad user id: 1 to 128 bytes of [A-Za-z0-9_.:@-]")
	case o.IssuedBefore < 0:
		return Rejection("bad issued_before: unix seconds, above 0")
	}
	return nil
}

// fields are o as control stream entry fields, values as strings.
func (o ControlOp) fields() []any {
	f := []any{"op", o.Op}
	add := func(k, v string) {
		if v != "" {
			f = append(f, k, v)
		}
	}
	add("user", o.User)
	add("device", o.Device)
	add("session", o.Session)
	add("reason", o.Reason)
	add("jti", o.JTI)
	if o.IssuedBefore != 0 {
		add("issued_before", strconv.FormatInt(o.IssuedBefore, 10))
	}
	if o.Op == OpDisconnect {
		add("reconnect", strconv.FormatBool(o.Reconnect))
	}
	return f
}

// ParseControl reads one control stream entry and validates it.
func ParseControl(values map[string]any) (ControlOp, error) {
	if err := unknownControlField(values); err != nil {
		return ControlOp{}, err
	}
	str := func(k string) string { s, _ := values[k].(string); return s }
	o := ControlOp{Op: str("op"), User: str("user"), Device: str("device"), Session: str("session"),
		Reason: str("reason"), JTI: str("jti")}
	if v := str("reconnect"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return o, Rejection("bad reconnect: true or false")
		}
		o.Reconnect = b
	}
	if v := str("issued_before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return o, Rejection("bad issued_before: unix seconds, above 0")
		}
		o.IssuedBefore = n
	}
	return o, o.Validate()
}

// unknownControlField refuses a field no control entry has, naming the first.
func unknownControlField(values map[string]any) error {
	var unknown []string
	for k := range values {
		if !controlFields[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return Rejection(fmt.Sprintf("unknown field %q", truncate(unknown[0])))
}

// truncate shortens an attacker-chosen string for a reason.
func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
