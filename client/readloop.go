package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/wire"
)

// serve runs the connection's read loop on the calling (run) goroutine, with the
// keepalive loop beside it, until the connection ends; it joins the keepalive loop
// before it returns, so that no goroutine of this connection outlives it.
func (c *Client) serve(ws *gws.Conn, raw net.Conn, ev *events) outcome {
	start := time.Now()
	ev.ws = ws
	ev.lastRecv.Store(start.UnixNano())

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.keepalive(ws, raw, ev, stop)
	}()
	ws.ReadLoop() // calls the events on this goroutine until the connection ends
	close(stop)
	wg.Wait()

	c.mu.Lock()
	c.raw, c.ws, c.connected = nil, nil, false
	c.mu.Unlock()
	c.failPending()
	_ = raw.Close()
	return outcome{err: ev.closeErr, welcomed: ev.welcomed, up: time.Since(start)}
}

// events are the gws callbacks of one connection, all called on the run goroutine
// (ReadLoop runs there).
type events struct {
	c        *Client
	ws       *gws.Conn
	lastRecv atomic.Int64 // unix ns of the newest frame, ping or pong
	killed   atomic.Pointer[CloseError]
	closeErr *CloseError
	welcomed bool
}

func (e *events) OnOpen(*gws.Conn) {}

// OnClose records why the connection ended: the node's close frame, the
// keepalive's verdict, or the I/O error (as 1006).
func (e *events) OnClose(_ *gws.Conn, err error) {
	var ce *gws.CloseError
	switch {
	case errors.As(err, &ce):
		e.closeErr = &CloseError{Code: ce.Code, Reason: string(ce.Reason)}
	case e.killed.Load() != nil:
		e.closeErr = e.killed.Load()
	case err == nil || err.Error() == "":
		e.closeErr = &CloseError{Code: codeAbnormal, Reason: "connection lost"}
	default:
		e.closeErr = &CloseError{Code: codeAbnormal, Reason: err.Error()}
	}
}

func (e *events) OnPing(ws *gws.Conn, payload []byte) {
	e.seen()
	_ = e.c.write(ws, gws.OpcodePong, payload)
}

func (e *events) OnPong(*gws.Conn, []byte) { e.seen() }

func (e *events) seen() { e.lastRecv.Store(time.Now().UnixNano()) }

// OnMessage splits a message into its frames: the node coalesces several, separated
// by "\n".
func (e *events) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	e.seen()
	if m.Opcode != gws.OpcodeText {
		return
	}
	b := m.Bytes()
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(bytes.TrimSpace(line)) > 0 {
			e.frame(line)
		}
	}
}

// inFrame is any server-to-client frame (docs/PROTOCOL.md section 4).
type inFrame struct {
	Type     string          `json:"type"`
	Session  string          `json:"session"`
	Node     string          `json:"node"`
	User     string          `json:"user"`
	ID       string          `json:"id"`
	Offset   string          `json:"offset"`
	To       string          `json:"to"`
	Topic    string          `json:"topic"`
	From     string          `json:"from"`
	TS       int64           `json:"ts"`
	Data     json.RawMessage `json:"data"` // both decoders copy it out of the pooled message
	Complete bool            `json:"complete"`
	Code     string          `json:"code"`
	Reason   string          `json:"reason"`
	Ref      string          `json:"ref"`
	// Targets answers a targets request; the fast decoder leaves such frames to
	// encoding/json.
	Targets []wire.RegisteredTarget `json:"targets"`
}

// frame handles one frame. Lines that are not JSON and unknown frame types are
// skipped: a newer node may send frames this client does not know.
func (e *events) frame(line []byte) {
	var f inFrame
	if !decodeFrame(line, &f) {
		f = inFrame{} // the fast path may have set fields before it gave up
		if json.Unmarshal(line, &f) != nil {
			return
		}
	}
	c := e.c
	switch f.Type {
	case "welcome":
		e.welcome(f)
	case "push":
		c.push(Push{ID: f.ID, Offset: f.Offset, To: f.To, Topic: f.Topic, From: f.From, TS: f.TS, Data: f.Data})
	case "recovered":
		if c.cfg.OnRecovered != nil {
			c.cfg.OnRecovered(f.To, f.Topic, f.Complete)
		}
	case "registered", "unregistered", "targets":
		c.answered(f)
	case "error":
		if f.Ref != "" && c.answered(f) {
			return
		}
		if c.cfg.OnError != nil {
			c.cfg.OnError(ServerError{Code: f.Code, Reason: f.Reason, Topic: f.Topic, Ref: f.Ref})
		}
	case "sent":
		if c.cfg.OnSent != nil {
			c.cfg.OnSent(f.Ref, f.ID)
		}
	case "subscribed":
		c.subscribed(f.Topic, f.Offset)
		if c.cfg.OnSubscribed != nil {
			c.cfg.OnSubscribed(f.Topic, f.Offset)
		}
	}
}

// welcome makes the connection live: resubscribes the topics, sends pending acks.
func (e *events) welcome(f inFrame) {
	c := e.c
	c.subMu.Lock()
	c.mu.Lock()
	c.session, c.node = f.Session, f.Node
	c.connected = c.ws == e.ws
	if c.lastOffset == "" && validOffset(f.Offset) {
		c.lastOffset = f.Offset // where this session starts: resume from here even before a push
	}
	subs := c.resubscriptionsLocked()
	c.mu.Unlock()
	c.resubscribe(e.ws, subs)
	c.subMu.Unlock()
	e.welcomed = true
	c.kickAcks()
	if c.cfg.OnWelcome != nil {
		c.cfg.OnWelcome(Welcome{Session: f.Session, Node: f.Node, User: f.User, Offset: f.Offset})
	}
	c.state(Connected, nil)
	c.readyOnce.Do(func() { close(c.ready) })
}
