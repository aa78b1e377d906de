package loglimit

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Config bounds the lines of each kind; zero fields take the defaults.
type Config struct {
	// Burst is how many lines of one kind pass at once. Default 20.
	Burst int
	// PerSecond is how many lines of one kind pass per second after a burst.
	// Default 5.
	PerSecond float64
	// Report is how long after the first suppressed line of a kind the count of
	// that kind's suppressed lines is logged. Default 10 s.
	Report time.Duration
	// Now is the clock of the buckets. Default time.Now.
	Now func() time.Time
}

// maxKinds bounds the buckets: messages are constants in Herald's code, but a
// message built from input must not grow the map without end. Kinds past it
// share one bucket.
const maxKinds = 512

// otherKind is the shared bucket of the kinds past maxKinds.
const otherKind = "(other messages)"

// SuppressedMsg is the message of the line that counts suppressed lines; its
// attributes are like (the suppressed message) and count.
const SuppressedMsg = "similar log lines suppressed"

// Handler limits the lines of each kind it passes to the handler it wraps. It
// is safe for concurrent use; the handlers WithAttrs and WithGroup return share
// its buckets.
type Handler struct {
	inner slog.Handler
	st    *state
}

// New wraps inner.
func New(inner slog.Handler, cfg Config) *Handler {
	if cfg.Burst <= 0 {
		cfg.Burst = 20
	}
	if cfg.PerSecond <= 0 {
		cfg.PerSecond = 5
	}
	if cfg.Report <= 0 {
		cfg.Report = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{inner: inner, st: &state{cfg: cfg, kinds: make(map[string]*kind)}}
}

// Enabled asks the wrapped handler: a level it drops costs nothing here.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// Handle passes r on unless its kind's bucket is empty; then it counts it.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if !h.st.allow(r.Message, r.Level, h.inner) {
		return nil
	}
	return h.inner.Handle(ctx, r)
}

// WithAttrs returns a Handler with the attributes, sharing the buckets.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{inner: h.inner.WithAttrs(attrs), st: h.st}
}

// WithGroup returns a Handler with the group, sharing the buckets.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name), st: h.st}
}

// Close logs the counts not reported yet and stops the timers. Lines handled
// after Close are limited still, but their suppression is not reported.
func (h *Handler) Close() {
	h.st.close()
}

// state is what the Handlers of one New share.
type state struct {
	cfg     Config
	mu      sync.Mutex
	kinds   map[string]*kind
	closed  bool
	reports sync.WaitGroup // armed timers whose report has not run
}

// kind is one message's bucket and the count of its suppressed lines.
type kind struct {
	tokens     float64
	refilled   time.Time
	suppressed int
	level      slog.Level   // the highest level suppressed
	via        slog.Handler // where the report goes: the newest suppressed line's handler
	timer      *time.Timer
}
