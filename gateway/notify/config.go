package notify

import "time"

// Config tunes the worker. Zero values take the defaults named on each field.
type Config struct {
	// Consumer is this worker's name in the consumer group: the node id, so
	// that a restarted node finds the events it left pending.
	Consumer string
	// Grace is how long after the undelivered event the worker waits before
	// it checks the push again and notifies. Zero: at once.
	Grace time.Duration
	// TTL is the platforms' time to live of a notification. Zero: one hour.
	TTL time.Duration
	// TitleField, BodyField and CollapseField name top-level fields of a
	// push's data: the visible title and body, and the collapse key (default
	// the push id).
	TitleField, BodyField, CollapseField string
	// Concurrency is how many events are handled at once. Zero: 8.
	Concurrency int
	// QueueSize bounds the events held in memory (waiting for the grace or a
	// retry, or being sent). Zero: 1000.
	QueueSize int
	// MaxAttempts bounds the sends of one notification a platform refuses for
	// now. Zero: 5.
	MaxAttempts int
	// RetryBackoff is the wait before the first retry; it doubles per attempt
	// up to MaxRetryDelay, which also caps a platform's Retry-After. Zero: 1 s
	// and 1 h (what the providers cap Retry-After at).
	RetryBackoff, MaxRetryDelay time.Duration
	// SendTimeout bounds one send. Zero: 15 s.
	SendTimeout time.Duration
	// ClaimIdle is how long another consumer's event must lie untouched before
	// this worker takes it over. Zero: 1 min.
	ClaimIdle time.Duration
	// ReadCount and Block shape XREADGROUP. Zero: 100 and 1 s (Block is also
	// how long Stop may wait for the reader).
	ReadCount int
	Block     time.Duration
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	def(&c.TTL, time.Hour)
	def(&c.RetryBackoff, time.Second)
	def(&c.MaxRetryDelay, time.Hour)
	def(&c.SendTimeout, 15*time.Second)
	def(&c.ClaimIdle, time.Minute)
	def(&c.Block, time.Second)
	defInt(&c.Concurrency, 8)
	defInt(&c.QueueSize, 1000)
	defInt(&c.MaxAttempts, 5)
	defInt(&c.ReadCount, 100)
	return c
}
