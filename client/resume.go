package client

import (
	"strconv"
	"strings"
)

// recordOffset moves the resume point of p's stream to p's offset when it is
// newer: the user stream's is the since of the next connection, a topic's the
// since of its next resubscription. Topics the client did not subscribe (the
// token's own) are not tracked.
func (c *Client) recordOffset(p Push) {
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

// offsetLess reports whether stream entry id a ("<ms>-<seq>") is before b; "" is
// before everything. Ids that do not parse compare as text.
func offsetLess(a, b string) bool {
	if a == "" {
		return b != ""
	}
	am, as, aok := splitOffset(a)
	bm, bs, bok := splitOffset(b)
	if !aok || !bok {
		return a < b
	}
	return am < bm || (am == bm && as < bs)
}

func splitOffset(s string) (ms, seq uint64, ok bool) {
	m, q, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	ms, err1 := strconv.ParseUint(m, 10, 64)
	seq, err2 := strconv.ParseUint(q, 10, 64)
	return ms, seq, err1 == nil && err2 == nil
}
