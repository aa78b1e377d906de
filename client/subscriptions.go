package client

import (
	"errors"

	"github.com/lxzan/gws"
)

// Subscribe joins topic; with since, the node replays the topic's history after it
// first. The client remembers the topic and resubscribes after every reconnection,
// from the newest offset it saw on the topic. While disconnected, the frame is sent
// on the next connection. The node answers with a subscribed or an error frame
// (OnError); a refused topic stays remembered until Unsubscribe.
func (c *Client) Subscribe(topic, since string) error {
	if topic == "" {
		return errors.New("herald client: subscribe needs a topic")
	}
	c.subMu.Lock()
	defer c.subMu.Unlock()
	c.mu.Lock()
	// Subscribing again without since keeps the offset reached on the topic, so
	// that the next reconnection still resumes from it.
	if old, ok := c.topics[topic]; !ok || since != "" || old == "" {
		c.topics[topic] = since
	}
	ws := c.liveLocked()
	closed := c.ctx.Err() != nil
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if ws == nil {
		return nil
	}
	return c.writeFrame(ws, outFrame{Type: "subscribe", Topic: topic, Since: since})
}

// Unsubscribe leaves topic and forgets it.
func (c *Client) Unsubscribe(topic string) error {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	c.mu.Lock()
	delete(c.topics, topic)
	delete(c.ackTopics, topic)
	ws := c.liveLocked()
	closed := c.ctx.Err() != nil
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if ws == nil {
		return nil
	}
	return c.writeFrame(ws, outFrame{Type: "unsubscribe", Topic: topic})
}

// subscribed handles the node's subscribed frame: before the topic's first push,
// its offset is where the subscription starts, and so where a reconnection resumes
// the topic.
func (c *Client) subscribed(topic, offset string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.topics[topic]; ok && old == "" && validOffset(offset) {
		c.topics[topic] = offset
	}
}

// resubscriptionsLocked is a subscribe frame for each remembered topic, from the
// newest offset seen on it.
func (c *Client) resubscriptionsLocked() []outFrame {
	subs := make([]outFrame, 0, len(c.topics))
	for t, since := range c.topics {
		subs = append(subs, outFrame{Type: "subscribe", Topic: t, Since: since})
	}
	return subs
}

// resubscribe writes subs on a new connection. The caller holds subMu, so that a
// Subscribe or Unsubscribe of the same moment is written after them.
func (c *Client) resubscribe(ws *gws.Conn, subs []outFrame) {
	for _, s := range subs {
		if c.writeFrame(ws, s) != nil {
			break // the connection is closing; the next one resubscribes
		}
	}
}
