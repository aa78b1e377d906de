package streams

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// details are what the server API's queries read besides presence: each session
// of a user (SessionDetails) and each topic's subscriber count per node
// (Subscribers). The presence writer writes them in its pipelines, coalesced the
// same way (the latest change per session and topic wins), so that the pending
// maps are bounded by the node's sessions and topics. They share presence's
// lifetime: rewritten by Resync, removed by the reaper with the node.
type details struct {
	mu       sync.Mutex
	sessions map[string]sessionChange // pending, by session id
	counts   map[wire.Recipient]int   // pending topic counts
	current  map[wire.Recipient]int   // what this node lists, for Resync
	// list gives the node's sessions for Resync. They are not kept here: the
	// directory holds them already, and a second table cost ~100 B a session.
	list func(ctx context.Context) []LocalSession
}

// LocalSession is one session of this node, for Resync.
type LocalSession struct {
	ID, User, Device string
	OpenedMs         int64 // unix ms
	// Gone reports whether Closed was called for it: a list taken before that
	// must not list it again.
	Gone func() bool
}

// sessionChange lists (since set) or unlists (since 0) one session. Its strings
// are the session's own: the value is built when it is written.
type sessionChange struct {
	user   string
	device string
	since  int64 // unix ms
}

// value is the SessionDetails value of c on node.
func (c sessionChange) value(node string) string {
	return node + "|" + c.device + "|" + strconv.FormatInt(c.since, 10)
}

func newDetails() *details {
	return &details{sessions: make(map[string]sessionChange),
		counts: make(map[wire.Recipient]int), current: make(map[wire.Recipient]int)}
}

// Opened lists a session of user on this node for the presence query.
func (p *Presence) Opened(user, id, device string, since time.Time) {
	c := sessionChange{user: user, device: device, since: max(since.UnixMilli(), 1)}
	p.details.mu.Lock()
	p.details.sessions[id] = c
	p.details.mu.Unlock()
	p.signal()
}

// Closed unlists a session.
func (p *Presence) Closed(user, id string) {
	p.details.mu.Lock()
	p.details.sessions[id] = sessionChange{user: user}
	p.details.mu.Unlock()
	p.signal()
}

// Count records that n local sessions subscribe to topic r.
func (p *Presence) Count(r wire.Recipient, n int) {
	p.details.mu.Lock()
	p.details.counts[r] = n
	if n > 0 {
		p.details.current[r] = n
	} else {
		delete(p.details.current, r)
	}
	p.details.mu.Unlock()
	p.signal()
}

// ListSessionsWith gives Resync the node's sessions; call it before Start.
// Without it, Resync rewrites topic counts only.
func (p *Presence) ListSessionsWith(list func(ctx context.Context) []LocalSession) {
	p.details.list = list
}

// resync queues what this node lists again (slice of of, by user or topic; of 1:
// all of it). Sessions are listed on a whole rewrite only (Redis lost data, the
// node was declared dead), not by the periodic safety net: they serve the
// presence query, never routing, and listing every session every 10 s left
// ~1 KB of garbage per idle session between collections. They are listed before
// the lock is taken: the directory answering may wait on sessions that call
// Opened or Closed.
func (d *details) resync(slice, of int) {
	var sessions []LocalSession
	if d.list != nil && of == 1 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		sessions = d.list(ctx)
		cancel()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, ls := range sessions {
		if _, ok := d.sessions[ls.ID]; !ok && sliceOf(wire.User(ls.User), of) == slice && !ls.Gone() {
			d.sessions[ls.ID] = sessionChange{user: ls.User, device: ls.Device, since: max(ls.OpenedMs, 1)}
		}
	}
	for r, n := range d.current {
		if _, ok := d.counts[r]; !ok && sliceOf(r, of) == slice {
			d.counts[r] = n
		}
	}
}

// take empties the pending changes and returns them.
func (d *details) take() (map[string]sessionChange, map[wire.Recipient]int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, c := d.sessions, d.counts
	d.sessions, d.counts = make(map[string]sessionChange, len(s)), make(map[wire.Recipient]int, len(c))
	return s, c
}

// restore puts back changes that failed unless newer ones replaced them.
func (d *details) restore(s map[string]sessionChange, c map[wire.Recipient]int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, ch := range s {
		if _, ok := d.sessions[id]; !ok {
			d.sessions[id] = ch
		}
	}
	for r, n := range c {
		if _, ok := d.counts[r]; !ok {
			d.counts[r] = n
		}
	}
}

// queue adds the writes of the changes to pipe.
func (p *Presence) queueDetails(ctx context.Context, pipe redis.Pipeliner, s map[string]sessionChange, c map[wire.Recipient]int) {
	for id, ch := range s {
		if ch.since != 0 {
			pipe.HSet(ctx, p.keys.SessionDetails(ch.user), id, ch.value(p.node))
		} else {
			pipe.HDel(ctx, p.keys.SessionDetails(ch.user), id)
		}
	}
	for r, n := range c {
		if n > 0 {
			pipe.HSet(ctx, p.keys.Subscribers(r.Name), p.node, n)
		} else {
			pipe.HDel(ctx, p.keys.Subscribers(r.Name), p.node)
		}
	}
}

// dropNodeSessionsScript unlists every session of node ARGV[1] from the user's
// SessionDetails (KEYS[1]): the reaper's, after the node died.
var dropNodeSessionsScript = redis.NewScript(`
local all = redis.call('hgetall', KEYS[1])
local prefix = ARGV[1] .. '|'
for i = 1, #all, 2 do
  if string.sub(all[i+1], 1, #prefix) == prefix then redis.call('hdel', KEYS[1], all[i]) end
end
return 0`)

// unlistDetails queues the removal of node's sessions and subscriber counts
// under recipient r.
func unlistDetails(ctx context.Context, pipe redis.Pipeliner, keys Keys, r wire.Recipient, node string) {
	if r.Kind == wire.KindUser {
		dropNodeSessionsScript.Eval(ctx, pipe, []string{keys.SessionDetails(r.Name)}, node)
		return
	}
	pipe.HDel(ctx, keys.Subscribers(r.Name), node)
}

// SessionDetail is one session the presence query lists.
type SessionDetail struct {
	Session string `json:"session"`
	Device  string `json:"device,omitempty"`
	Node    string `json:"node"`
	Since   int64  `json:"since"` // unix ms
}

// parseSessionDetail reads a SessionDetails field and value back.
func parseSessionDetail(id, v string) (SessionDetail, bool) {
	parts := strings.Split(v, "|")
	if len(parts) != 3 {
		return SessionDetail{}, false
	}
	since, err := strconv.ParseInt(parts[2], 10, 64)
	return SessionDetail{Session: id, Node: parts[0], Device: parts[1], Since: since}, err == nil
}
