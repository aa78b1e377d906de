package streams

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// routed is one ingress entry on its way: its push and the pipeline replies.
type routed struct {
	id    string
	key   string // the history stream
	push  *wire.Push
	add   *redis.Cmd
	nodes *redis.StringSliceCmd
}

func (r *routed) failed() bool { return r.add.Err() != nil || r.nodes.Err() != nil }

// staged is a batch whose history append was sent: its entries and dead letters
// with their replies.
type staged struct {
	msgs   []redis.XMessage // as read
	batch  []routed
	dead   []deadLetter
	failed int // entries whose history append or presence read failed
}

// pendingPush is a routed push whose hand-off has writes still to confirm: the
// inboxes of other nodes and, with delivery.ack_timeout, its wait for an ack.
type pendingPush struct {
	push   *wire.Push
	writes []inboxWrite
	await  []redis.Cmder
}

type inboxWrite struct {
	node string
	cmd  *redis.Cmd
}

// handOff is a batch's hand-off on its way. Its ingress entries are acknowledged
// only once every write of every push returned OK, in a later round trip (a
// failed write in the same pipeline would not stop an XACK there, and on Redis
// Cluster a pipeline's parts run in parallel).
type handOff struct {
	msgs   []redis.XMessage // the batch as read, routed again if a WAIT falls short
	pushes []pendingPush
	ack    []string // ingress ids: routed entries and stored dead letters
	dead   []deadLetter
	routed int
	failed int // entries whose history append failed: retried from pending
	tries  int // hand-off attempts that had writes fail
}

// queueHistory queues pipeline 1 of msgs: history append, its TTL when due, and the
// presence read per push (one hash slot per recipient), plus the dead letters.
func (l *partitionLoop) queueHistory(ctx context.Context, pipe redis.Pipeliner, msgs []redis.XMessage) *staged {
	batch, dead := l.parse(msgs)
	now := time.Now()
	for i := range batch {
		r := &batch[i]
		r.key = l.keys.History(r.push.Recipient)
		r.add = l.queueAppend(ctx, pipe, r, now)
		r.nodes = pipe.SMembers(ctx, l.keys.Presence(r.push.Recipient))
	}
	for i := range dead {
		dead[i].add = pipe.XAdd(ctx, dlqArgs(l.keys, l.cfg.DLQMaxLen, l.stream, dead[i]))
	}
	return &staged{msgs: msgs, batch: batch, dead: dead}
}

func (l *partitionLoop) parse(msgs []redis.XMessage) ([]routed, []deadLetter) {
	batch := make([]routed, 0, len(msgs))
	var dead []deadLetter
	for _, m := range msgs {
		p, err := ParseIngress(m.ID, m.Values, l.cfg.MaxPayload)
		if err != nil {
			class := "invalid"
			if rej, ok := err.(Rejection); ok {
				class = rej.Class()
			}
			dead = append(dead, deadLetter{id: m.ID, fields: m.Values, reason: err.Error(), class: class})
			continue
		}
		batch = append(batch, routed{id: m.ID, push: p})
	}
	return batch, dead
}

// historyArgs is the XADD of p to its history stream key, trimmed exactly to
// maxLen (history.size, or the topic's).
func (l *partitionLoop) historyArgs(key any, p *wire.Push, maxLen any) []any {
	a := l.args.take(5 + historyFieldCount(p))
	a[0], a[1], a[2], a[3], a[4] = "xadd", key, "maxlen", maxLen, "*"
	historyFields(a[5:], p)
	return a
}

// inboxArgs is the XADD of p to a node inbox. No MAXLEN: an inbox is trimmed
// only behind what its node acknowledged (Inbox.trim), and a node that falls
// too far behind closes its sessions instead (Inbox.checkBacklog).
func (l *partitionLoop) inboxArgs(inbox string, p *wire.Push) []any {
	a := l.args.take(3 + inboxFieldCount(p))
	a[0], a[1], a[2] = "xadd", inbox, "*"
	inboxFields(a[3:], p)
	return a
}

// historyDone checks pipeline 1's replies. When none of them worked (Redis away)
// the batch is left to a retry; when some did, the batch is handed off without the
// failed entries and the loop retries its own pending entries after that.
func (l *partitionLoop) historyDone(ctx context.Context, st *staged) error {
	for i := range st.batch {
		if r := &st.batch[i]; r.failed() {
			st.failed++
			l.ttl.forget(r.key)
		}
	}
	if st.failed > 0 && st.failed == len(st.batch) {
		l.metrics.RedisErrors.WithLabelValues("history").Inc()
		stored := l.ackDeadLetters(ctx, st.dead) // else a retry would dead-letter them again
		err := st.batch[0].add.Err()
		if err == nil {
			err = st.batch[0].nodes.Err()
		}
		if isTransient(err) {
			// Retried as read: a re-read of the pending entries would count as a
			// delivery, and under a long OOM they would reach streams.max_deliveries
			// and the dead letters for no fault of their own.
			l.held = withoutIDs(st.msgs, stored)
		} else {
			l.retryOwn = true
		}
		return fmt.Errorf("streams: append history: %w", err)
	}
	return nil
}

// withoutIDs is msgs without the entries whose ids are in ids.
func withoutIDs(msgs []redis.XMessage, ids []string) []redis.XMessage {
	if len(ids) == 0 {
		return msgs
	}
	return slices.DeleteFunc(slices.Clone(msgs), func(m redis.XMessage) bool { return slices.Contains(ids, m.ID) })
}

// ackDeadLetters acknowledges the dead letters that were stored and returns their
// ids; best effort, a failure only means they may be stored twice.
func (l *partitionLoop) ackDeadLetters(ctx context.Context, dead []deadLetter) []string {
	var ids []string
	for _, d := range dead {
		if d.add != nil && d.add.Err() == nil {
			ids = append(ids, d.id)
			l.deadLettered(d)
		}
	}
	if len(ids) > 0 {
		_ = l.rdb.XAck(ctx, l.stream, groupRouter, ids...).Err()
	}
	return ids
}

// queueHandOff delivers st's local pushes and queues pipeline 2: the other nodes'
// inboxes and the waits for acks. Entries whose history append failed stay
// pending for a retry.
func (l *partitionLoop) queueHandOff(ctx context.Context, pipe redis.Pipeliner, st *staged) *handOff {
	var local []*wire.Push
	h := &handOff{msgs: st.msgs, failed: st.failed, pushes: make([]pendingPush, 0, len(st.batch))}
	h.ack = make([]string, 0, len(st.batch)+len(st.dead))
	now := time.Now()
	nowMs := now.UnixMilli()
	for i := range st.batch {
		r := &st.batch[i]
		if r.failed() {
			continue
		}
		l.metrics.RouteLag.Observe(float64(nowMs-r.push.TS) / 1000)
		id, _ := r.add.Text()
		r.push.Offset = wire.MustOffset(id)
		r.push.Encode()
		pp := pendingPush{push: r.push, await: l.undeliv.await(ctx, pipe, r.push, now)}
		for _, n := range r.nodes.Val() {
			if n == l.cfg.Node {
				local = append(local, r.push)
				continue
			}
			pp.writes = append(pp.writes, inboxWrite{node: n, cmd: pipe.Do(ctx, l.inboxArgs(l.keys.Inbox(n), r.push)...)})
		}
		h.pushes = append(h.pushes, pp)
		h.ack = append(h.ack, r.id)
	}
	h.routed = len(h.ack)
	for _, d := range st.dead {
		if d.add.Err() != nil {
			h.failed++
			continue
		}
		h.ack = append(h.ack, d.id)
		h.dead = append(h.dead, d)
	}
	if len(local) > 0 {
		l.local <- struct{}{}
		l.sink.Deliver(local, func() { <-l.local }, nil)
	}
	return h
}

// handOffDone checks a hand-off whose pipeline ran. When every write worked its
// entries are owed an acknowledgement (sent in the next round trip); otherwise the
// failed writes are retried before anything newer is handed off (retryStuck), so
// that no session gets a push after a newer one of the same partition.
func (l *partitionLoop) handOffDone(ctx context.Context, h *handOff) error {
	failed := 0
	for i := range h.pushes {
		failed += h.pushes[i].keepFailed()
	}
	if failed > 0 {
		l.metrics.RedisErrors.WithLabelValues("handoff").Add(float64(failed))
		h.tries++
		if h.tries < l.cfg.MaxDeliveries || !h.refusedForGood() {
			l.stuck = h
			return fmt.Errorf("streams: hand off batch of %s: %d writes failed", l.stream, failed)
		}
		if err := l.deadLetterWrites(ctx, h); err != nil {
			l.stuck = h
			return err
		}
	}
	l.handedOff(h)
	return nil
}

// refusedForGood: every write left failed with an error Redis will give again
// (a wrong-type key, a permission the node's user lacks), not an outage.
func (h *handOff) refusedForGood() bool {
	for _, p := range h.pushes {
		for _, w := range p.writes {
			if !isRefusal(w.cmd.Err()) {
				return false
			}
		}
		for _, c := range p.await {
			if !isRefusal(c.Err()) {
				return false
			}
		}
	}
	return true
}

// deadLetterWrites gives up on writes Redis refused streams.max_deliveries times
// for good: each push is stored in herald:dlq with the node and the reason, and
// the hand-off goes on (else one unwritable key would stop the partition for
// everyone). The node's sessions miss the push live; the dead letter says so.
func (l *partitionLoop) deadLetterWrites(ctx context.Context, h *handOff) error {
	pipe := l.rdb.Pipeline()
	var dead []deadLetter
	for i := range h.pushes {
		p := &h.pushes[i]
		for _, w := range p.writes {
			reason := fmt.Sprintf("hand-off to node %s refused %d times: %v", w.node, h.tries, w.cmd.Err())
			d := deadLetter{id: p.push.ID, fields: map[string]any{"to": p.push.Recipient.String(), "offset": p.push.Offset.String()},
				reason: reason, class: "handoff_refused"}
			pipe.XAdd(ctx, dlqArgs(l.keys, l.cfg.DLQMaxLen, l.stream, d))
			dead = append(dead, d)
		}
		p.writes, p.await = nil, nil
	}
	if len(dead) == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		l.metrics.RedisErrors.WithLabelValues("dead_letter").Inc()
		return fmt.Errorf("streams: dead-letter refused hand-offs: %w", err)
	}
	for _, d := range dead {
		l.deadLettered(d)
	}
	return nil
}

// keepFailed drops the confirmed writes of p and counts those left.
func (p *pendingPush) keepFailed() int {
	p.writes = slices.DeleteFunc(p.writes, func(w inboxWrite) bool { return w.cmd.Err() == nil })
	if !slices.ContainsFunc(p.await, func(c redis.Cmder) bool { return c.Err() != nil }) {
		p.await = nil
	}
	n := len(p.writes)
	if p.await != nil {
		n++
	}
	return n
}

// handedOff owes h's entries an acknowledgement and counts them.
func (l *partitionLoop) handedOff(h *handOff) {
	l.toAck = append(l.toAck, h.ack...)
	for _, d := range h.dead {
		l.deadLettered(d)
	}
	l.metrics.PushesIn.Add(float64(h.routed))
	if h.failed > 0 {
		l.retryOwn = true
		l.metrics.RedisErrors.WithLabelValues("history").Add(float64(h.failed))
	}
}

// retryStuck writes again what a hand-off could not write (an inbox's Redis
// master down, out of memory), with the history entries already appended: a
// retry appends no second copy. A node no longer in the recipient's presence was
// reaped meanwhile; the reaping rules decide for it, so it is not written to.
// Until this succeeds nothing newer is handed off, and the entries stay pending:
// if this router dies or loses its lease, the next holder routes them again.
func (l *partitionLoop) retryStuck(ctx context.Context) error {
	h := l.stuck
	members, err := l.presenceOf(ctx, h.pushes)
	if err != nil {
		return err
	}
	l.args.reset()
	pipe := l.rdb.Pipeline()
	now := time.Now()
	for i := range h.pushes {
		p := &h.pushes[i]
		if p.await != nil {
			p.await = l.undeliv.await(ctx, pipe, p.push, now)
		}
		p.writes = slices.DeleteFunc(p.writes, func(w inboxWrite) bool { return !slices.Contains(members[i], w.node) })
		for j := range p.writes {
			p.writes[j].cmd = pipe.Do(ctx, l.inboxArgs(l.keys.Inbox(p.writes[j].node), p.push)...)
		}
	}
	wait := l.wait.queue(ctx, pipe) // covers the writes retried here; the others had theirs
	_, _ = pipe.Exec(ctx)
	l.stuck = nil
	if err := l.wait.done(ctx, wait); err != nil {
		l.waitShort(err)
		l.held = h.msgs // routed again from the history append on
		return err
	}
	return l.handOffDone(ctx, h)
}

// presenceOf reads the presence of the recipients with inbox writes left.
func (l *partitionLoop) presenceOf(ctx context.Context, pushes []pendingPush) ([][]string, error) {
	pipe := l.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(pushes))
	for i := range pushes {
		if len(pushes[i].writes) > 0 {
			cmds[i] = pipe.SMembers(ctx, l.keys.Presence(pushes[i].push.Recipient))
		}
	}
	if pipe.Len() == 0 {
		return make([][]string, len(pushes)), nil
	}
	_, _ = pipe.Exec(ctx)
	members := make([][]string, len(pushes))
	for i, c := range cmds {
		if c == nil {
			continue
		}
		if err := c.Err(); err != nil {
			l.metrics.RedisErrors.WithLabelValues("handoff").Inc()
			return nil, fmt.Errorf("streams: presence for hand-off retry: %w", err)
		}
		members[i] = c.Val()
	}
	return members, nil
}
