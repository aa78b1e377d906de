package streams

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// PushState is what the fallback knows of one push of a user when it is about
// to notify.
type PushState struct {
	// Acked: a session of the user acknowledged the push's offset or a later
	// one (the user's newest ack, or a device cursor): the push reached the
	// user after its undelivered event.
	Acked bool
	// Push is the history entry at the offset; nil when history no longer
	// holds it (trimmed, expired).
	Push *wire.Push
}

// PushLookup reads a push's state for the fallback: the user's newest ack, the
// device cursors and the history entry, in one round trip (the keys carry the
// user's tag).
type PushLookup struct {
	rdb  redis.UniversalClient
	keys Keys
}

// NewPushLookup returns the reader.
func NewPushLookup(rdb redis.UniversalClient, keys Keys) *PushLookup {
	return &PushLookup{rdb: rdb, keys: keys}
}

// State reads the push of user at off.
func (l *PushLookup) State(ctx context.Context, user string, off wire.Offset) (PushState, error) {
	var acked *redis.StringCmd
	var cursors *redis.MapStringStringCmd
	var entry *redis.XMessageSliceCmd
	_, err := l.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		acked = pipe.Get(ctx, l.keys.Acked(user))
		cursors = pipe.HGetAll(ctx, l.keys.Cursors(user))
		entry = pipe.XRangeN(ctx, l.keys.History(wire.User(user)), off.String(), off.String(), 1)
		return nil
	})
	if err == redis.Nil { // no ack yet: only the GET may answer nil
		err = errors.Join(cursors.Err(), entry.Err())
	}
	if err != nil {
		return PushState{}, fmt.Errorf("streams: push %s of %s: %w", off, user, err)
	}
	var st PushState
	st.Acked = atOrPast(acked.Val(), off)
	for _, v := range cursors.Val() {
		st.Acked = st.Acked || atOrPast(v, off)
	}
	if msgs := entry.Val(); len(msgs) == 1 {
		if p, err := pushFromHistory(wire.User(user), msgs[0].ID, msgs[0].Values); err == nil {
			st.Push = p
		}
	}
	return st, nil
}

// atOrPast: s is an offset at or past off.
func atOrPast(s string, off wire.Offset) bool {
	o, err := wire.ParseOffset(s)
	return err == nil && !o.Less(off)
}
