package streams

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// PushState is what the fallback knows of one push of a user when it is about
// to notify.
type PushState struct {
	// AckedBy names a device whose cursor is at or past the push's offset ("":
	// none): the push reached the user after the undelivered event.
	AckedBy string
	// Push is the history entry at the offset; nil when history no longer
	// holds it (trimmed, expired).
	Push *wire.Push
}

// PushLookup reads a push's state for the fallback: the user's device cursors
// and the history entry, in one round trip (both keys carry the user's tag).
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
	var cursors *redis.MapStringStringCmd
	var entry *redis.XMessageSliceCmd
	_, err := l.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		cursors = pipe.HGetAll(ctx, l.keys.Cursors(user))
		entry = pipe.XRangeN(ctx, l.keys.History(wire.User(user)), off.String(), off.String(), 1)
		return nil
	})
	if err != nil {
		return PushState{}, fmt.Errorf("streams: push %s of %s: %w", off, user, err)
	}
	var st PushState
	for device, v := range cursors.Val() {
		if c, err := wire.ParseOffset(v); err == nil && !c.Less(off) {
			st.AckedBy = device
			break
		}
	}
	if msgs := entry.Val(); len(msgs) == 1 {
		if p, err := pushFromHistory(wire.User(user), msgs[0].ID, msgs[0].Values); err == nil {
			st.Push = p
		}
	}
	return st, nil
}
