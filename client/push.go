package client

import "encoding/json"

// Push is one message delivered to this client: a push frame (docs/PROTOCOL.md
// section 4).
type Push struct {
	ID     string          // message id: the publisher's id, or the ingress entry id
	Offset string          // position in the recipient's history stream
	To     string          // the user it was addressed to ("" for a topic push)
	Topic  string          // the topic it was published to ("" for a user push)
	From   string          // the sender's user id, when the publish had one
	TS     int64           // publish time, unix ms
	Data   json.RawMessage // the payload, as published; the client does not reuse it
}

// push records the offset, drops a duplicate, delivers, and queues the ack. A
// duplicate is acked too: the node may be waiting for it.
func (c *Client) push(p Push) {
	c.recordOffset(p)
	if c.seen.add(dedupeKey(p)) && c.cfg.OnPush != nil {
		c.cfg.OnPush(p)
	}
	if c.cfg.AutoAck && validOffset(p.Offset) { // the node refuses an ack of anything else
		c.queueAck(p)
	}
}

// dedupeKey names p's message on its stream: ids are unique per recipient only.
func dedupeKey(p Push) string {
	if p.To != "" {
		return "u\x00" + p.To + "\x00" + p.ID
	}
	return "t\x00" + p.Topic + "\x00" + p.ID
}

// dedupe is a bounded set of keys, forgetting the oldest first. Only the run
// goroutine uses it.
type dedupe struct {
	set  map[string]struct{}
	ring []string
	next int
}

// newDedupe remembers size keys; with size <= 0 it is nil, which lets every key
// through.
func newDedupe(size int) *dedupe {
	if size <= 0 {
		return nil
	}
	return &dedupe{set: make(map[string]struct{}, size), ring: make([]string, size)}
}

// add reports whether k is new, remembering it.
func (d *dedupe) add(k string) bool {
	if d == nil {
		return true
	}
	if _, ok := d.set[k]; ok {
		return false
	}
	if old := d.ring[d.next]; old != "" {
		delete(d.set, old)
	}
	d.ring[d.next] = k
	d.next = (d.next + 1) % len(d.ring)
	d.set[k] = struct{}{}
	return true
}
