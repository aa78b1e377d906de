package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

var (
	// ErrClosed is returned by the methods of a closed client: closed by Close,
	// or stopped by itself after a refusal that retrying cannot fix (State Closed).
	ErrClosed = errors.New("herald client: closed")
	// ErrNotConnected is returned by Ack, Send and Publish while the client is
	// between connections.
	ErrNotConnected = errors.New("herald client: not connected")
	// ErrDisconnected matches (errors.Is) the *CloseError of a session the
	// operator disconnected (close code 4010): the client stopped for good and
	// must not reconnect without its user's action.
	ErrDisconnected = errors.New("herald client: disconnected by the operator")
)

// CloseError is why a connection ended: the close frame's code and reason, or 1006
// and the I/O error when it ended without one.
type CloseError struct {
	Code   uint16
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("herald client: connection closed with code %d", e.Code)
	}
	return fmt.Sprintf("herald client: connection closed with code %d: %s", e.Code, e.Reason)
}

// Is makes a 4010 close match ErrDisconnected.
func (e *CloseError) Is(target error) bool {
	return target == ErrDisconnected && e.Code == codeDisconnected
}

// HTTPError is a refused WebSocket upgrade: the HTTP status and the reason from the
// node's JSON body {"error":"..."} (or the body's text).
type HTTPError struct {
	Status int
	Reason string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("herald client: upgrade refused with HTTP %d: %s", e.Status, e.Reason)
}

// permanent reports whether retrying cannot help: a 4xx other than 408 and 429.
func (e *HTTPError) permanent() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != 408 && e.Status != 429
}

// httpError reads a refused upgrade's status and JSON reason. The read is bounded
// by the handshake deadline gws left on the connection.
func httpError(resp *http.Response) *HTTPError {
	e := &HTTPError{Status: resp.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var v struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &v) == nil && v.Error != "" {
		e.Reason = v.Error
	} else {
		e.Reason = strings.TrimSpace(string(body))
	}
	if e.Reason == "" {
		e.Reason = http.StatusText(resp.StatusCode)
	}
	return e
}

// ServerError is an error frame: the node could not serve a request
// (docs/PROTOCOL.md section 4). Topic or Ref name the request when it had one.
type ServerError struct {
	Code   string // bad_frame, forbidden, rate_limited, limit, unavailable, ...
	Reason string
	Topic  string
	Ref    string
}

func (e ServerError) Error() string {
	s := "herald: " + e.Code + ": " + e.Reason
	if e.Ref != "" {
		s += " (ref " + e.Ref + ")"
	}
	if e.Topic != "" {
		s += " (topic " + e.Topic + ")"
	}
	return s
}
