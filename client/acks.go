package client

import (
	"errors"
	"time"

	"github.com/lxzan/gws"
)

// Ack tells the node that the client handled the user stream up to offset: it
// counts as delivered and, for a session with a device, becomes the device's cursor.
func (c *Client) Ack(offset string) error {
	if offset == "" {
		return errors.New("herald client: ack needs an offset")
	}
	return c.send(outFrame{Type: "ack", Offset: offset})
}

// queueAck records p's offset as the newest to ack on its stream (AutoAck) and
// wakes the keepalive loop, which sends it with the next batch. A topic push is
// acked only while the topic is subscribed.
func (c *Client) queueAck(p Push) {
	c.mu.Lock()
	if p.To != "" {
		if offsetLess(c.ackUser, p.Offset) {
			c.ackUser = p.Offset
		}
	} else if _, ok := c.topics[p.Topic]; ok && offsetLess(c.ackTopics[p.Topic], p.Offset) {
		c.ackTopics[p.Topic] = p.Offset
	}
	c.mu.Unlock()
	c.kickAcks()
}

// kickAcks wakes the keepalive loop without blocking: one pending wake-up is
// enough, as a flush sends the newest offsets of every stream.
func (c *Client) kickAcks() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// flushAcks sends the pending acks, if ws is still the live connection.
func (c *Client) flushAcks(ws *gws.Conn) {
	c.mu.Lock()
	if c.liveLocked() != ws || (c.ackUser == "" && len(c.ackTopics) == 0) {
		c.mu.Unlock()
		return
	}
	user := c.ackUser
	topics := c.ackTopics
	c.ackUser, c.ackTopics = "", map[string]string{}
	c.mu.Unlock()
	if user != "" {
		if c.writeFrame(ws, outFrame{Type: "ack", Offset: user}) != nil {
			c.restoreAcks(user, topics)
			return
		}
	}
	for t, off := range topics {
		if c.writeFrame(ws, outFrame{Type: "ack", Topic: t, Offset: off}) != nil {
			c.restoreAcks("", topics)
			return
		}
		delete(topics, t)
	}
}

// restoreAcks puts back acks that could not be written, unless newer ones are
// pending; the next connection sends them.
func (c *Client) restoreAcks(user string, topics map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if offsetLess(c.ackUser, user) {
		c.ackUser = user
	}
	for t, off := range topics {
		if _, subscribed := c.topics[t]; subscribed && offsetLess(c.ackTopics[t], off) {
			c.ackTopics[t] = off
		}
	}
}

// ackSchedule spaces ack flushes at least ackEvery apart: the first ack after a
// quiet spell goes out at once, later ones wait for one scheduled flush, which then
// sends the newest offset of each stream (one frame per stream, not per push).
// Only the keepalive loop uses it.
type ackSchedule struct {
	timer *time.Timer
	due   <-chan time.Time // the scheduled flush; nil when none is
	last  time.Time        // when the previous flush ran
}

// kicked handles a pending ack: flush now, or schedule a flush, or nothing when
// one is scheduled already.
func (a *ackSchedule) kicked(flush func()) {
	if a.due != nil {
		return
	}
	if wait := time.Until(a.last.Add(ackEvery)); wait > 0 {
		a.timer = time.NewTimer(wait)
		a.due = a.timer.C
		return
	}
	a.flushNow(flush)
}

// fired runs the scheduled flush.
func (a *ackSchedule) fired(flush func()) {
	a.due = nil
	a.flushNow(flush)
}

func (a *ackSchedule) flushNow(flush func()) {
	flush()
	a.last = time.Now()
}

func (a *ackSchedule) stop() {
	if a.timer != nil {
		a.timer.Stop()
	}
}
