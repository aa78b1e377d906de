package loglimit

import (
	"context"
	"log/slog"
	"time"
)

// allow takes a token of msg's bucket, or counts the line as suppressed and
// arms its kind's report.
func (s *state) allow(msg string, level slog.Level, via slog.Handler) bool {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.kinds[msg]
	if k == nil {
		if len(s.kinds) >= maxKinds {
			msg = otherKind
			k = s.kinds[msg]
		}
		if k == nil {
			k = &kind{tokens: float64(s.cfg.Burst), refilled: now}
			s.kinds[msg] = k
		}
	}
	if elapsed := now.Sub(k.refilled).Seconds(); elapsed > 0 {
		k.tokens = min(float64(s.cfg.Burst), k.tokens+elapsed*s.cfg.PerSecond)
	}
	k.refilled = now
	if k.tokens >= 1 {
		k.tokens--
		return true
	}
	if k.suppressed == 0 || level > k.level {
		k.level = level
	}
	k.suppressed++
	k.via = via
	if k.timer == nil && !s.closed {
		s.reports.Add(1)
		k.timer = time.AfterFunc(s.cfg.Report, func() { s.report(msg) })
	}
	return false
}

// report logs how many lines of msg were suppressed since the last report.
func (s *state) report(msg string) {
	defer s.reports.Done()
	s.mu.Lock()
	k := s.kinds[msg]
	n, level, via := k.suppressed, k.level, k.via
	k.suppressed, k.timer, k.via = 0, nil, nil
	s.mu.Unlock()
	if n > 0 {
		write(via, level, msg, n)
	}
}

// close reports every count left, cancels the timers that had not fired and
// waits for those that had.
func (s *state) close() {
	type pending struct {
		msg   string
		n     int
		level slog.Level
		via   slog.Handler
	}
	var left []pending
	s.mu.Lock()
	s.closed = true
	for msg, k := range s.kinds {
		if k.timer != nil && k.timer.Stop() {
			s.reports.Done() // it will not run
		}
		if k.suppressed > 0 {
			left = append(left, pending{msg, k.suppressed, k.level, k.via})
		}
		k.suppressed, k.timer, k.via = 0, nil, nil
	}
	s.mu.Unlock()
	s.reports.Wait()
	for _, p := range left {
		write(p.via, p.level, p.msg, p.n)
	}
}

// write logs the count of a kind's suppressed lines.
func write(via slog.Handler, level slog.Level, msg string, n int) {
	r := slog.NewRecord(time.Now(), level, SuppressedMsg, 0)
	r.AddAttrs(slog.String("like", msg), slog.Int("count", n))
	_ = via.Handle(context.Background(), r)
}
