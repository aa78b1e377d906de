package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/herald-push/herald/client"
)

// frameLine is one frame as herald listen prints it: the fields of the wire
// frame it stands for (docs/PROTOCOL.md section 4), the empty ones left out.
type frameLine struct {
	Type     string          `json:"type"`
	Session  string          `json:"session,omitempty"`
	Node     string          `json:"node,omitempty"`
	User     string          `json:"user,omitempty"`
	ID       string          `json:"id,omitempty"`
	Offset   string          `json:"offset,omitempty"`
	To       string          `json:"to,omitempty"`
	Topic    string          `json:"topic,omitempty"`
	From     string          `json:"from,omitempty"`
	TS       int64           `json:"ts,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	Complete *bool           `json:"complete,omitempty"`
	Code     string          `json:"code,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	Ref      string          `json:"ref,omitempty"`
}

// printer writes what a client receives as JSON lines on out and its connection
// changes as text on log. The client calls it on its run goroutine, one
// callback at a time, so it needs no lock.
type printer struct {
	out     *json.Encoder
	log     io.Writer
	url     string
	session string
	tried   bool       // the first attempt was told
	up      bool       // a connection is up: a drop is a disconnect, else a failed attempt
	closed  chan error // why the client stopped by itself (4003, 4009, a 4xx)
}

// attach sets cfg's callbacks to print.
func (p *printer) attach(cfg *client.Config) {
	cfg.OnWelcome = func(w client.Welcome) {
		p.session = w.Session + " on node " + w.Node
		p.print(frameLine{Type: "welcome", Session: w.Session, Node: w.Node, User: w.User, Offset: w.Offset})
	}
	cfg.OnPush = func(x client.Push) {
		p.print(frameLine{Type: "push", ID: x.ID, Offset: x.Offset, To: x.To, Topic: x.Topic, From: x.From, TS: x.TS, Data: x.Data})
	}
	cfg.OnRecovered = func(to, topic string, complete bool) {
		p.print(frameLine{Type: "recovered", To: to, Topic: topic, Complete: &complete})
	}
	cfg.OnSubscribed = func(topic, offset string) {
		p.print(frameLine{Type: "subscribed", Topic: topic, Offset: offset})
	}
	cfg.OnError = func(e client.ServerError) {
		p.print(frameLine{Type: "error", Code: e.Code, Reason: e.Reason, Topic: e.Topic, Ref: e.Ref})
	}
	cfg.OnState = p.state
}

func (p *printer) print(l frameLine) {
	if err := p.out.Encode(l); err != nil {
		fmt.Fprintf(p.log, "listen: write: %v\n", err)
	}
}

// state tells the connection's changes on log: the first attempt, every
// connection, every drop with its close code, and a stop for good.
func (p *printer) state(s client.State, err error) {
	switch s {
	case client.Connecting:
		if !p.tried {
			fmt.Fprintf(p.log, "listen: connecting to %s\n", p.url)
			p.tried = true
		}
	case client.Connected:
		p.up = true
		fmt.Fprintf(p.log, "listen: connected: session %s\n", p.session)
	case client.Disconnected:
		if p.up {
			fmt.Fprintf(p.log, "listen: disconnected (%s); reconnecting\n", closeReason(err))
		} else {
			fmt.Fprintf(p.log, "listen: cannot connect (%s); retrying\n", closeReason(err))
		}
		p.up = false
	case client.Closed:
		if err != nil {
			select {
			case p.closed <- err:
			default:
			}
		}
	}
}

// closeReason says why a connection ended, close code first.
func closeReason(err error) string {
	var ce *client.CloseError
	var he *client.HTTPError
	switch {
	case errors.As(err, &ce) && ce.Reason != "":
		return fmt.Sprintf("closed with %d: %s", ce.Code, ce.Reason)
	case errors.As(err, &ce):
		return fmt.Sprintf("closed with %d", ce.Code)
	case errors.As(err, &he):
		return fmt.Sprintf("refused with HTTP %d: %s", he.Status, he.Reason)
	}
	return err.Error()
}

// wait runs until ctx ends (Ctrl-C, SIGTERM), then closes the client with 1000,
// or until the client stopped by itself, which is an error.
func (p *printer) wait(ctx context.Context, c *client.Client) error {
	select {
	case <-ctx.Done():
		_ = c.Close()
		fmt.Fprintln(p.log, "listen: closed with 1000")
		return nil
	case err := <-p.closed:
		_ = c.Close()
		return fmt.Errorf("listen: stopped: %s", closeReason(err))
	}
}
