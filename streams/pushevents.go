package streams

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// UndeliveredEvent is one entry of herald:undelivered as the push-notification
// fallback reads it (fields of Undelivered.emitOne).
type UndeliveredEvent struct {
	ID     string // the stream entry id; its time part is when the event was appended
	To     string // the user
	Offset string // the push's offset in the user's history
	PushID string // "" when history no longer held the push at emission
	Data   string
	From   string
	Fields map[string]any // the entry as stored, for a dead letter
}

// At is when the event was appended (its entry id's time part).
func (e UndeliveredEvent) At() time.Time {
	return time.UnixMilli(int64(wire.MustOffset(e.ID).Ms))
}

// PushEvents reads herald:undelivered for the push-notification fallback through
// the consumer group "push": every node that runs the fallback is a consumer
// (named by its node id), so each event is handled by one of them, and an event
// is acknowledged only once its outcome is settled (at least once).
type PushEvents struct {
	rdb       redis.UniversalClient
	keys      Keys
	consumer  string
	dlqMaxLen int
	own       string // next id of this consumer's own pending entries; "" once read
	claimFrom string // XAUTOCLAIM cursor
}

// NewPushEvents returns the reader for consumer (the node id). dlqMaxLen bounds
// herald:dlq as streams.dlq_max_len does.
func NewPushEvents(rdb redis.UniversalClient, keys Keys, consumer string, dlqMaxLen int) *PushEvents {
	return &PushEvents{rdb: rdb, keys: keys, consumer: consumer, dlqMaxLen: dlqMaxLen, own: "0", claimFrom: "0-0"}
}

// Start creates the group. A new group starts at the stream's end ("$"):
// turning the fallback on does not notify the backlog of events no one was
// meant to notify. A group Redis lost later is recreated from "0" (Read).
func (p *PushEvents) Start(ctx context.Context) error {
	err := p.rdb.XGroupCreateMkStream(ctx, p.keys.Undelivered(), groupPush, "$").Err()
	if err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") {
		return fmt.Errorf("streams: create group %s on %s: %w", groupPush, p.keys.Undelivered(), err)
	}
	return nil
}

// Read returns up to count events: first the entries a previous run of this
// consumer left pending (read once, after a restart), then new ones, waiting
// up to block for them. Not safe for concurrent use.
func (p *PushEvents) Read(ctx context.Context, count int, block time.Duration) ([]UndeliveredEvent, error) {
	from := ">"
	if p.own != "" {
		from = p.own
	}
	res, err := p.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: groupPush, Consumer: p.consumer, Streams: []string{p.keys.Undelivered(), from},
		Count: int64(count), Block: block,
	}).Result()
	if isNoGroup(err) {
		p.own = ""
		return nil, createGroup(ctx, p.rdb, p.keys.Undelivered(), groupPush)
	}
	if err == redis.Nil || (err == nil && len(res) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("streams: read %s: %w", p.keys.Undelivered(), err)
	}
	msgs := res[0].Messages
	if p.own != "" {
		p.own = nextOwn(msgs)
	}
	return toEvents(msgs), nil
}

// nextOwn is where the next read of own pending entries starts: after the last
// one read, or "" (read new ones) when none was left.
func nextOwn(msgs []redis.XMessage) string {
	if len(msgs) == 0 {
		return ""
	}
	return msgs[len(msgs)-1].ID
}

// Claim takes over up to count events other consumers left pending for longer
// than minIdle (a node that died or stopped mid-way), walking the pending list
// with a cursor across calls.
func (p *PushEvents) Claim(ctx context.Context, minIdle time.Duration, count int) ([]UndeliveredEvent, error) {
	msgs, next, err := p.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: p.keys.Undelivered(), Group: groupPush, Consumer: p.consumer,
		MinIdle: minIdle, Start: p.claimFrom, Count: int64(count),
	}).Result()
	if isNoGroup(err) {
		return nil, nil // Read recreates it
	}
	if err != nil {
		return nil, fmt.Errorf("streams: claim %s: %w", p.keys.Undelivered(), err)
	}
	p.claimFrom = next
	return toEvents(msgs), nil
}

// Keep resets the idle time of events this consumer still holds (waiting for
// their grace, or a retry), so that Claim elsewhere takes only a stopped
// consumer's events. JUSTID: their delivery counts stay.
func (p *PushEvents) Keep(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	err := p.rdb.XClaimJustID(ctx, &redis.XClaimArgs{
		Stream: p.keys.Undelivered(), Group: groupPush, Consumer: p.consumer, Messages: ids,
	}).Err()
	if err != nil && !isNoGroup(err) {
		return fmt.Errorf("streams: keep %d events of %s: %w", len(ids), p.keys.Undelivered(), err)
	}
	return nil
}

// Ack marks events settled.
func (p *PushEvents) Ack(ctx context.Context, ids ...string) error {
	if err := p.rdb.XAck(ctx, p.keys.Undelivered(), groupPush, ids...).Err(); err != nil && !isNoGroup(err) {
		return fmt.Errorf("streams: ack %s: %w", p.keys.Undelivered(), err)
	}
	return nil
}

// DeadLetter stores e in herald:dlq with reason, then acknowledges it.
func (p *PushEvents) DeadLetter(ctx context.Context, e UndeliveredEvent, reason string) error {
	d := deadLetter{id: e.ID, fields: e.Fields, reason: reason}
	if err := p.rdb.XAdd(ctx, dlqArgs(p.keys, p.dlqMaxLen, p.keys.Undelivered(), d)).Err(); err != nil {
		return fmt.Errorf("streams: dead-letter %s: %w", e.ID, err)
	}
	return p.Ack(ctx, e.ID)
}

// toEvents converts entries; one the stream no longer holds (trimmed while
// pending: no fields) is kept with its id only, for the caller to acknowledge.
func toEvents(msgs []redis.XMessage) []UndeliveredEvent {
	out := make([]UndeliveredEvent, len(msgs))
	for i, m := range msgs {
		f := m.Values
		out[i] = UndeliveredEvent{
			ID: m.ID, To: asString(f["to"]), Offset: asString(f["offset"]), PushID: asString(f["id"]),
			Data: asString(f["data"]), From: asString(f["from"]), Fields: f,
		}
	}
	return out
}
