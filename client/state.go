package client

import "strconv"

// Welcome is a welcome frame (docs/PROTOCOL.md section 4): the first frame of
// every connection.
type Welcome struct {
	Session string // the session's id, unique in the cluster
	Node    string // the node serving it
	User    string // the token's user
	Offset  string // where the user stream starts: the resume point before any push
}

// State is the connection state reported to Config.OnState.
type State int

const (
	// Connecting: an attempt to connect starts (error nil).
	Connecting State = iota + 1
	// Connected: the node's welcome arrived (error nil).
	Connected
	// Disconnected: a connection ended, or an attempt failed, and the client will
	// try again. The error says why: a *CloseError (with the close code; 1006 when
	// the connection dropped without a close frame), an *HTTPError (e.g. 503), or a
	// dial or token error.
	Disconnected
	// Closed: the client stopped for good. The error is nil after Close, or the
	// reason it will not retry: a *CloseError with 4003, 4009 or 4010 (the operator
	// disconnected the user; errors.Is(err, ErrDisconnected)), or an *HTTPError
	// with a 4xx status (401, 403, 400, ...).
	Closed
)

func (s State) String() string {
	switch s {
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	case Disconnected:
		return "disconnected"
	case Closed:
		return "closed"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// state reports s to OnState. Only the run goroutine calls it, so the states
// arrive in order.
func (c *Client) state(s State, err error) {
	if c.cfg.OnState != nil {
		c.cfg.OnState(s, err)
	}
}
