package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/wire"
)

// ErrConnectionLost is returned by a request (Register, Unregister, Targets)
// whose connection ended before the node answered: it may or may not have been
// served, and repeating it is safe.
var ErrConnectionLost = errors.New("herald client: connection lost before the answer")

// requestRefPrefix starts the refs of the client's own requests, so that they
// stand apart from the refs an application gives Send and Publish.
const requestRefPrefix = "herald-req-"

// answer is what a request waits for: the node's answer frame, or why none comes.
type answer struct {
	f   inFrame
	err error
}

// Register stores t as the push target of this connection's device (the
// token's device claim, or Config.Device), replacing the device's target of the
// same kind, and returns once the node stored it (docs/PROTOCOL.md section 9).
// The node refuses a session without a device. Must not be called from a
// callback: the answer is read on the goroutine callbacks run on.
func (c *Client) Register(ctx context.Context, t wire.PushTarget) error {
	if err := t.Validate(true); err != nil { // the node decides on http:// endpoints
		return fmt.Errorf("herald client: register: %w", err)
	}
	_, err := c.request(ctx, outFrame{Type: wire.TypeRegister, Target: &t}, "registered")
	return err
}

// Unregister removes this device's push target of kind (wire.KindWebPush,
// wire.KindFCM or wire.KindAPNs); removing one that is not there is no error.
func (c *Client) Unregister(ctx context.Context, kind string) error {
	if !wire.ValidKind(kind) {
		return fmt.Errorf("herald client: unregister: unknown kind %q (webpush, fcm or apns)", kind)
	}
	_, err := c.request(ctx, outFrame{Type: wire.TypeUnregister, Kind: kind}, "unregistered")
	return err
}

// Targets lists the push targets of the user's devices: device, kind and
// registration time (the node does not show the targets themselves).
func (c *Client) Targets(ctx context.Context) ([]wire.RegisteredTarget, error) {
	f, err := c.request(ctx, outFrame{Type: wire.TypeTargets}, "targets")
	if err != nil {
		return nil, err
	}
	if f.Targets == nil {
		return []wire.RegisteredTarget{}, nil
	}
	return f.Targets, nil
}

// request sends f with a ref of the client's and waits for the answer of type
// want with that ref, an error frame with it (a ServerError), the end of the
// connection (ErrConnectionLost), of the client (ErrClosed) or of ctx.
func (c *Client) request(ctx context.Context, f outFrame, want string) (inFrame, error) {
	ch := make(chan answer, 1)
	ws, err := c.track(&f, ch)
	if err != nil {
		return inFrame{}, err
	}
	defer c.forget(f.Ref)
	if err := c.writeFrame(ws, f); err != nil {
		return inFrame{}, err
	}
	select {
	case a := <-ch:
		if a.err == nil && a.f.Type != want {
			a.err = fmt.Errorf("herald client: %s answered with %q", f.Type, a.f.Type)
		}
		return a.f, a.err
	case <-ctx.Done():
		return inFrame{}, fmt.Errorf("herald client: %s: %w", f.Type, ctx.Err())
	case <-c.ctx.Done():
		return inFrame{}, ErrClosed
	}
}

// track gives f a new ref and notes ch as where its answer goes, on the live
// connection, which it returns. Both under c.mu, so that failPending, which runs
// once the connection is no longer live, cannot miss it.
func (c *Client) track(f *outFrame, ch chan answer) (*gws.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ws := c.liveLocked()
	switch {
	case c.ctx.Err() != nil:
		return nil, ErrClosed
	case ws == nil:
		return nil, ErrNotConnected
	}
	c.reqSeq++
	f.Ref = requestRefPrefix + strconv.FormatUint(c.reqSeq, 36)
	c.pending[f.Ref] = ch
	return ws, nil
}

func (c *Client) forget(ref string) {
	c.mu.Lock()
	delete(c.pending, ref)
	c.mu.Unlock()
}

// answered hands f to the request waiting for its ref and reports whether one
// was; an error frame becomes the request's ServerError.
func (c *Client) answered(f inFrame) bool {
	c.mu.Lock()
	ch, ok := c.pending[f.Ref]
	delete(c.pending, f.Ref)
	c.mu.Unlock()
	if !ok {
		return false
	}
	a := answer{f: f}
	if f.Type == "error" {
		a.err = ServerError{Code: f.Code, Reason: f.Reason, Topic: f.Topic, Ref: f.Ref}
	}
	ch <- a // buffered, and each ref is answered once
	return true
}

// failPending ends every request waiting on the connection that just ended:
// their answers can only come on it. serve calls it after the connection stopped
// being the live one, so no request can register on it afterwards.
func (c *Client) failPending() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ref, ch := range c.pending {
		ch <- answer{err: ErrConnectionLost}
		delete(c.pending, ref)
	}
}
