package streams

import "time"

// argArena hands out command argument slices from one backing array that is reused
// for every pipeline of a partition loop. go-redis keeps the slice given to Do as the
// command's arguments without copying, so a batch's commands cost no argument
// allocations (the router allocated about 2.5 KB per push, most of a node's garbage
// under load; bench/RESULTS.md).
//
// A slice handed out stays valid until reset; reset is called only once the
// pipeline that used the slices was sent.
type argArena struct {
	buf []any
}

// take returns n argument slots.
func (a *argArena) take(n int) []any {
	if len(a.buf)+n > cap(a.buf) {
		// Slices already handed out keep the old array.
		a.buf = make([]any, 0, max(2*cap(a.buf), 64*n))
	}
	s := a.buf[len(a.buf) : len(a.buf)+n : len(a.buf)+n]
	a.buf = a.buf[:len(a.buf)+n]
	return s
}

// reset makes the whole array available again, dropping the references it held.
func (a *argArena) reset() {
	clear(a.buf)
	a.buf = a.buf[:0]
}

// ttlRefresher decides when a history stream's TTL is set again. XADD cannot set a
// TTL, and a PEXPIRE after every append cost a command per push; the TTL is set on a
// recipient's first append seen by this router and then at most once per
// history.ttl/16, so an idle recipient's history lives between 15/16 and 16/16 of
// history.ttl after its last push.
type ttlRefresher struct {
	every time.Duration
	set   map[string]time.Time // history key -> when its TTL was last set
	limit int
}

// maxRefreshKeys bounds the refresher's memory; at the bound it starts over (a few
// more PEXPIREs, nothing lost).
const maxRefreshKeys = 1 << 16

func newTTLRefresher(ttl time.Duration) *ttlRefresher {
	return &ttlRefresher{every: ttl / 16, set: make(map[string]time.Time), limit: maxRefreshKeys}
}

// due reports whether key's TTL must be set now, and then counts it as set.
func (t *ttlRefresher) due(key string, now time.Time) bool {
	return t.dueEvery(key, now, t.every)
}

// dueEvery is due for a key whose TTL is set again every every (a topic's
// history.topics TTL / 16, not the node's).
func (t *ttlRefresher) dueEvery(key string, now time.Time, every time.Duration) bool {
	if last, ok := t.set[key]; ok && now.Sub(last) < every {
		return false
	}
	if len(t.set) >= t.limit {
		clear(t.set)
	}
	t.set[key] = now
	return true
}

// forget makes key's TTL due again: its append may have failed, or the key may be
// new after Redis lost its data.
func (t *ttlRefresher) forget(key string) {
	delete(t.set, key)
}

// clear forgets every key: Redis lost its data.
func (t *ttlRefresher) clear() {
	clear(t.set)
}
