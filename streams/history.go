package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// replayPage is how many history entries one XRANGE of a replay reads.
const replayPage = 100

// History reads recipients' history streams for resume. Its reads go through Reads,
// in pipelines shared with other sessions.
type History struct {
	reads   *Reads
	keys    Keys
	size    int
	nowMs   func() int64
	metrics *Metrics
	lost    *rateLog       // nil: not logged
	policy  *HistoryPolicy // history.topics; nil: none
}

// NewHistory returns a reader of the history streams; size is history.size.
func NewHistory(reads *Reads, keys Keys, size int, nowMs func() int64, m *Metrics) *History {
	return &History{reads: reads, keys: keys, size: size, nowMs: nowMs, metrics: m}
}

// WithPolicy makes the reader follow history.topics: a topic's own history.size,
// and no reads at all for a live-only topic, which has no stream.
func (h *History) WithPolicy(p *HistoryPolicy) *History {
	h.policy = p
	return h
}

// LiveOnly reports whether r keeps no history (history.topics size 0).
func (h *History) LiveOnly(r wire.Recipient) bool { return h.policy.LiveOnly(r) }

// sizeOf is r's history.size.
func (h *History) sizeOf(r wire.Recipient) int {
	if l := h.policy.For(r); l != nil {
		return l.Size
	}
	return h.size
}

// LogLost makes the reader log, at most every 10 s, a resume that found its
// history deleted or expired after the client's offset.
func (h *History) LogLost(log *slog.Logger) { h.lost = newRateLog(log, 10*time.Second) }

// errHistoryLost is logged when a resume found its history gone.
var errHistoryLost = errors.New("history deleted or expired after the client's offset")

// lostAt counts and logs a resume of r whose history vanished under the client.
func (h *History) lostAt(r wire.Recipient, since wire.Offset) {
	h.metrics.KeysVanished.WithLabelValues("history").Inc()
	if h.lost != nil {
		h.lost.warn("a resume found its history gone; the client gets complete:false", errHistoryLost,
			"recipient", r.String(), "since", since.String())
	}
}

// xrange reads at most count entries of key from start to stop; rev reads backwards.
func (h *History) xrange(ctx context.Context, rev bool, key, start, stop string, count int64) ([]redis.XMessage, error) {
	name := "xrange"
	if rev {
		name = "xrevrange"
	}
	cmd := redis.NewXMessageSliceCmd(ctx, name, key, start, stop, "count", count)
	if err := h.reads.Do(ctx, cmd); err != nil {
		return nil, err
	}
	return cmd.Val(), nil
}

// Top is the offset of r's newest history entry, or the zero Offset when there is none.
func (h *History) Top(ctx context.Context, r wire.Recipient) (wire.Offset, error) {
	if h.policy.LiveOnly(r) {
		return wire.Offset{}, nil
	}
	msgs, err := h.xrange(ctx, true, h.keys.History(r), "+", "-", 1)
	if err != nil {
		h.metrics.RedisErrors.WithLabelValues("history_top").Inc()
		return wire.Offset{}, fmt.Errorf("streams: history top of %s: %w", r, err)
	}
	if len(msgs) == 0 {
		return wire.Offset{}, nil
	}
	return wire.MustOffset(msgs[0].ID), nil
}

// Replay sends page by page every entry of r's history after since (expired ones
// left out) to page, and returns the last offset it sent (since when none) and
// whether history still held everything after since.
//
// Completeness (docs/ARCHITECTURE.md): history streams are trimmed exactly to
// history.size. A non-zero since is an offset the client got from this stream, so
// while the stream is the one the client read, since's entry is held or was
// trimmed. A non-zero since older than the oldest entry held therefore means
// trimmed (the stream is full) or a stream that vanished and was recreated by
// newer pushes (it is not full): incomplete either way. A zero since is complete
// while the stream was never trimmed. A non-zero since with no history at all, or
// beyond the newest entry, means history was lost or expired.
//
// A live-only topic (history.topics size 0) has nothing to replay and cannot
// tell what the client missed: incomplete, whatever since is, without a read.
func (h *History) Replay(ctx context.Context, r wire.Recipient, since wire.Offset, page func([]*wire.Push) error) (wire.Offset, bool, error) {
	if h.policy.LiveOnly(r) {
		return since, false, nil
	}
	complete, empty, err := h.completeAfter(ctx, r, since)
	if err != nil || empty {
		return since, complete, err
	}
	last, sent, err := h.replayFrom(ctx, r, since, page)
	if err != nil {
		return last, false, err
	}
	if sent == 0 {
		complete = complete && !h.lostBeyond(ctx, r, since)
	}
	return last, complete, nil
}

// completeAfter judges, before reading, whether r's history still holds
// everything after since (Replay's rule); empty reports a history without entries.
func (h *History) completeAfter(ctx context.Context, r wire.Recipient, since wire.Offset) (complete, empty bool, err error) {
	key := h.keys.History(r)
	first, err := h.xrange(ctx, false, key, "-", "+", 1)
	if err != nil {
		h.metrics.RedisErrors.WithLabelValues("history_range").Inc()
		return false, false, fmt.Errorf("streams: history of %s: %w", r, err)
	}
	if len(first) == 0 {
		if !since.IsZero() {
			h.lostAt(r, since)
		}
		return since.IsZero(), true, nil
	}
	complete = !since.Less(wire.MustOffset(first[0].ID))
	if !complete {
		// Older than the oldest entry held: trimmed if the stream is full,
		// recreated under the client if it is not (since was one of its entries).
		cmd := redis.NewIntCmd(ctx, "xlen", key)
		err := h.reads.Do(ctx, cmd)
		notFull := err == nil && cmd.Val() < int64(h.sizeOf(r))
		complete = notFull && since.IsZero()
		if notFull && !since.IsZero() {
			h.lostAt(r, since)
		}
	}
	return complete, false, nil
}

// lostBeyond reports, when nothing after a non-zero since was found, whether the
// client saw entries this history never had: it was lost.
func (h *History) lostBeyond(ctx context.Context, r wire.Recipient, since wire.Offset) bool {
	if since.IsZero() {
		return false
	}
	top, err := h.Top(ctx, r)
	if err == nil && top.Less(since) {
		h.lostAt(r, since)
		return true
	}
	return false
}

// Page is the server API's history read: at most limit pushes of r, oldest
// first; the newest limit without since, else the first limit after since.
// complete follows Replay's rule (without since, as a since of zero: whether the
// stream was never trimmed).
func (h *History) Page(ctx context.Context, r wire.Recipient, since wire.Offset, hasSince bool, limit int) ([]*wire.Push, bool, error) {
	if h.policy.LiveOnly(r) {
		return nil, false, nil
	}
	complete, empty, err := h.completeAfter(ctx, r, since)
	if err != nil || empty {
		return nil, complete, err
	}
	key := h.keys.History(r)
	var msgs []redis.XMessage
	if hasSince {
		msgs, err = h.xrange(ctx, false, key, "("+since.String(), "+", int64(limit))
	} else {
		msgs, err = h.xrange(ctx, true, key, "+", "-", int64(limit))
		slices.Reverse(msgs)
	}
	if err != nil {
		h.metrics.RedisErrors.WithLabelValues("history_range").Inc()
		return nil, false, fmt.Errorf("streams: history page of %s: %w", r, err)
	}
	if len(msgs) == 0 {
		complete = complete && !h.lostBeyond(ctx, r, since)
	}
	return h.decode(r, msgs), complete, nil
}

// ReplayAfter is Replay without the completeness check, for a start the node chose
// itself (a live-only session starts after the history top it noted): it saves the
// reads of the oldest entry and the length.
func (h *History) ReplayAfter(ctx context.Context, r wire.Recipient, since wire.Offset, page func([]*wire.Push) error) (wire.Offset, error) {
	if h.policy.LiveOnly(r) {
		return since, nil
	}
	last, _, err := h.replayFrom(ctx, r, since, page)
	return last, err
}

func (h *History) replayFrom(ctx context.Context, r wire.Recipient, since wire.Offset, page func([]*wire.Push) error) (wire.Offset, int, error) {
	key := h.keys.History(r)
	last, sent := since, 0
	for {
		msgs, err := h.xrange(ctx, false, key, last.Next().String(), "+", replayPage)
		if err != nil {
			h.metrics.RedisErrors.WithLabelValues("history_range").Inc()
			return last, sent, fmt.Errorf("streams: replay %s: %w", r, err)
		}
		pushes := h.decode(r, msgs)
		if len(msgs) > 0 {
			last = wire.MustOffset(msgs[len(msgs)-1].ID)
		}
		if len(pushes) > 0 {
			if err := page(pushes); err != nil {
				return last, sent, err
			}
			sent += len(pushes)
		}
		if len(msgs) < replayPage {
			return last, sent, nil
		}
	}
}

func (h *History) decode(r wire.Recipient, msgs []redis.XMessage) []*wire.Push {
	now := h.nowMs()
	out := make([]*wire.Push, 0, len(msgs))
	for _, m := range msgs {
		p, err := pushFromHistory(r, m.ID, m.Values)
		if err != nil || p.Expired(now) {
			continue
		}
		p.Encode()
		out = append(out, p)
	}
	return out
}
