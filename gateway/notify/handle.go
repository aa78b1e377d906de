package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/herald-push/herald/gateway/push"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

// verdict is what handling an event came to.
type verdict struct {
	outcome string        // event outcome when settled; "" when retried
	dead    string        // dead-letter reason, with eventBad and eventGaveUp
	retryIn time.Duration // with outcome "": send again after this
}

// handle settles j's event (acknowledging it, or dead-lettering it) or puts it
// back for a retry. A Redis failure anywhere puts it back with a backoff: what
// was settled is marked, so the next round skips it.
func (w *Worker) handle(j *job) {
	v, err := w.process(w.ctx, j)
	if err == nil {
		err = w.settle(j.ev, v)
	}
	switch {
	case w.ctx.Err() != nil:
		// Stopping: the event stays pending in Redis for the next run.
	case err != nil:
		w.redisFailed("push: handling an undelivered event failing", err)
		j.redisErr++
		w.again(j, w.backoff(j.redisErr))
	case v.outcome == "":
		j.redisErr = 0
		w.again(j, v.retryIn)
	default:
		w.queue.Done(j.ev.ID)
		w.deps.Metrics.Events.WithLabelValues(v.outcome).Inc()
	}
}

// settle acknowledges the event, or dead-letters it with its reason.
func (w *Worker) settle(ev streams.UndeliveredEvent, v verdict) error {
	ctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
	defer cancel()
	switch {
	case v.outcome == "":
		return nil
	case v.dead != "":
		return w.deps.Events.DeadLetter(ctx, ev, v.dead)
	default:
		return w.deps.Events.Ack(ctx, ev.ID)
	}
}

func (w *Worker) again(j *job, d time.Duration) {
	j.due = w.deps.Now().Add(d)
	w.queue.Again(j)
}

// backoff is Config.RetryBackoff doubled per failure, up to MaxRetryDelay.
func (w *Worker) backoff(failures int) time.Duration {
	d := w.cfg.RetryBackoff << min(failures-1, 20)
	return min(d, w.cfg.MaxRetryDelay)
}

// process decides what to do with one event; an error is a Redis failure.
func (w *Worker) process(ctx context.Context, j *job) (verdict, error) {
	user, off, err := parseEvent(j.ev)
	if err != nil {
		return verdict{outcome: eventBad, dead: err.Error()}, nil
	}
	st, err := w.deps.Lookup.State(ctx, user, off)
	if err != nil {
		return verdict{}, err
	}
	p := st.Push
	if p == nil {
		p = pushFromEvent(j.ev, user, off)
	}
	switch {
	case st.Acked:
		return verdict{outcome: eventAcked}, nil
	case p == nil:
		return verdict{outcome: eventLost}, nil
	case p.Expired(w.deps.Now().UnixMilli()):
		return verdict{outcome: eventExpired}, nil
	}
	targets, err := w.deps.Targets.List(ctx, user)
	if err != nil || len(targets) == 0 {
		return verdict{outcome: eventNoTargets}, err
	}
	if ok, err := w.deps.Ledger.Admit(ctx, user, p.ID); err != nil || !ok {
		return verdict{outcome: eventRateLimited}, err
	}
	return w.notifyTargets(ctx, j, p, targets)
}

// notifyTargets sends p's notification to every target not settled yet.
func (w *Worker) notifyTargets(ctx context.Context, j *job, p *wire.Push, targets []streams.DeviceTarget) (verdict, error) {
	user := p.Recipient.Name
	settled, err := w.deps.Ledger.Settled(ctx, user, p.ID)
	if err != nil {
		return verdict{}, err
	}
	n := w.notification(p)
	var later []retryLater
	for _, t := range targets {
		field := streams.TargetField(t.Device, t.Target.Kind)
		if settled[field] != "" {
			w.count(t, sendDeduped)
			continue
		}
		r, err := w.sendTo(ctx, user, p.ID, t, n)
		if err != nil {
			return verdict{}, err
		}
		if r != nil {
			later = append(later, *r)
		}
	}
	if len(later) == 0 {
		return verdict{outcome: eventNotified}, nil
	}
	return w.retryOrGiveUp(ctx, j, user, p.ID, later)
}

// retryLater is a target a platform refused for now.
type retryLater struct {
	target streams.DeviceTarget
	after  time.Duration
	err    error
}

// sendTo sends n to t and settles the outcome, or returns the target to try
// again; an error is a Redis failure (or the worker stopping).
func (w *Worker) sendTo(ctx context.Context, user, pushID string, t streams.DeviceTarget, n push.Notification) (*retryLater, error) {
	sendErr := w.sendOne(ctx, t.Target, n)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	field := streams.TargetField(t.Device, t.Target.Kind)
	var retry *push.RetryableError
	switch {
	case sendErr == nil:
		w.count(t, sendSent)
		return nil, w.deps.Ledger.Settle(ctx, user, pushID, field, sendSent)
	case errors.Is(sendErr, push.ErrGone):
		w.count(t, sendGone)
		if err := w.deps.Targets.RemoveGone(ctx, user, t.Device, t.Target); err != nil {
			return nil, err
		}
		return nil, w.deps.Ledger.Settle(ctx, user, pushID, field, sendGone)
	case errors.As(sendErr, &retry):
		w.count(t, sendRetry)
		return &retryLater{target: t, after: retry.After, err: sendErr}, nil
	default:
		w.count(t, sendFailed)
		w.deps.Log.Warn("push: a platform refused a notification", "kind", t.Target.Kind, "user", user, "device", t.Device, "err", sendErr)
		return nil, w.deps.Ledger.Settle(ctx, user, pushID, field, sendFailed)
	}
}

// sendOne is one bounded send, timed.
func (w *Worker) sendOne(ctx context.Context, t wire.PushTarget, n push.Notification) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.SendTimeout)
	defer cancel()
	start := time.Now()
	err := w.deps.Sender.Send(ctx, t, n)
	w.deps.Metrics.SendSeconds.Observe(time.Since(start).Seconds())
	return err
}

// retryOrGiveUp puts the event back for the targets refused for now, after
// the longest Retry-After or the backoff, or gives them up after
// Config.MaxAttempts: marked, counted and the event dead-lettered.
func (w *Worker) retryOrGiveUp(ctx context.Context, j *job, user, pushID string, later []retryLater) (verdict, error) {
	j.attempts++
	if j.attempts < w.cfg.MaxAttempts {
		d := w.backoff(j.attempts)
		for _, r := range later {
			d = max(d, min(r.after, w.cfg.MaxRetryDelay))
		}
		return verdict{retryIn: d}, nil
	}
	for _, r := range later {
		field := streams.TargetField(r.target.Device, r.target.Target.Kind)
		if err := w.deps.Ledger.Settle(ctx, user, pushID, field, sendGaveUp); err != nil {
			return verdict{}, err
		}
		w.count(r.target, sendGaveUp)
	}
	reason := fmt.Sprintf("push: gave up after %d attempts on %d target(s): %v", j.attempts, len(later), later[len(later)-1].err)
	return verdict{outcome: eventGaveUp, dead: reason}, nil
}

func (w *Worker) count(t streams.DeviceTarget, outcome string) {
	w.deps.Metrics.Notifications.WithLabelValues(kindLabel(t.Target.Kind), outcome).Inc()
}

// parseEvent checks the fields every event has.
func parseEvent(ev streams.UndeliveredEvent) (string, wire.Offset, error) {
	if err := wire.ValidName(ev.To); err != nil {
		return "", wire.Offset{}, fmt.Errorf("push: undelivered event without a valid to: %w", err)
	}
	off, err := wire.ParseOffset(ev.Offset)
	if err != nil {
		return "", wire.Offset{}, fmt.Errorf("push: undelivered event without a valid offset: %w", err)
	}
	return ev.To, off, nil
}

// pushFromEvent rebuilds the push from the event when history no longer holds
// it; nil when the event lacks it too. The publish time is then the offset's
// (the router appends within milliseconds of the publish).
func pushFromEvent(ev streams.UndeliveredEvent, user string, off wire.Offset) *wire.Push {
	if ev.PushID == "" || !json.Valid([]byte(ev.Data)) {
		return nil
	}
	return &wire.Push{Recipient: wire.User(user), ID: ev.PushID, Offset: off, From: ev.From, TS: int64(off.Ms), Data: []byte(ev.Data)}
}
