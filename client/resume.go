package client

import "github.com/herald-push/herald/wire"

// recordOffset moves the resume point of p's stream to p's offset when it is
// newer: the user stream's is the since of the next connection, a topic's the
// since of its next resubscription. Topics the client did not subscribe (the
// token's own) are not tracked.
func (c *Client) recordOffset(p Push) {
	if !validOffset(p.Offset) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.To != "" {
		if offsetLess(c.lastOffset, p.Offset) {
			c.lastOffset = p.Offset
		}
	} else if old, ok := c.topics[p.Topic]; ok && offsetLess(old, p.Offset) {
		c.topics[p.Topic] = p.Offset
	}
}

// validOffset reports whether s, an offset from the node, is a stream entry id.
// Anything else is not kept as a resume point: sent back as since, it would make
// the node refuse every reconnection (HTTP 400) and the client stop for good.
func validOffset(s string) bool {
	_, err := wire.ParseOffset(s)
	return err == nil
}

// offsetLess reports whether stream entry id a ("<ms>-<seq>") is before b; "" is
// before everything. Ids that do not parse (a since given to Subscribe) compare as
// text.
func offsetLess(a, b string) bool {
	if a == "" {
		return b != ""
	}
	ao, aerr := wire.ParseOffset(a)
	bo, berr := wire.ParseOffset(b)
	if aerr != nil || berr != nil {
		return a < b
	}
	return ao.Less(bo)
}
