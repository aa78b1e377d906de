package client

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/wire"
)

// outFrame is a client-to-server frame (docs/PROTOCOL.md section 5).
type outFrame struct {
	Type   string           `json:"type"`
	Topic  string           `json:"topic,omitempty"`
	Since  string           `json:"since,omitempty"`
	Offset string           `json:"offset,omitempty"`
	Ref    string           `json:"ref,omitempty"`
	Data   json.RawMessage  `json:"data,omitempty"`
	Target *wire.PushTarget `json:"target,omitempty"` // register
	Kind   string           `json:"kind,omitempty"`   // unregister
}

// send writes f on the current connection. It is not queued for the next one:
// the node answers a send or publish on the connection it came on.
func (c *Client) send(f outFrame) error {
	c.mu.Lock()
	ws := c.liveLocked()
	closed := c.ctx.Err() != nil
	c.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case ws == nil:
		return ErrNotConnected
	}
	return c.writeFrame(ws, f)
}

// liveLocked returns the connection that got its welcome, or nil.
func (c *Client) liveLocked() *gws.Conn {
	if c.connected {
		return c.ws
	}
	return nil
}

func (c *Client) writeFrame(ws *gws.Conn, f outFrame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("herald client: %w", err)
	}
	return c.write(ws, gws.OpcodeText, b)
}

// write writes one message with a deadline. A failed write closes the connection
// (gws does that), and the client reconnects.
func (c *Client) write(ws *gws.Conn, op gws.Opcode, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := ws.WriteMessage(op, b); err != nil {
		return fmt.Errorf("herald client: write: %w", err)
	}
	return nil
}
