package actors

import (
	"runtime"
	"time"

	"github.com/herald-push/herald/wire"
)

// Config tunes the actors of one node. A zero field takes the default its comment
// gives (withDefaults); MaxPendingBytes has none, config.Load always sets it.
type Config struct {
	Node   string
	Shards int // directory shards; 0 = GOMAXPROCS x 4
	// MaxPendingBytes is a session's budget of unsent push bytes (outbox and
	// stashes) before it is closed with 4008. Zero closes it at its first push.
	MaxPendingBytes int
	MaxMessageBytes int // the largest WebSocket message coalesced pushes are packed into; 0 = 64 KiB
	MaxInbound      int // client frames waiting for a session's actor before its reads pause; 0 = 16
	// PingInterval is how often a session pings its client. Browsers cannot send
	// pings, so the server's pings (answered by pongs) keep quiet sessions alive.
	// 0 = 20 s.
	PingInterval time.Duration
	// Policy says which topics a user may subscribe to; nil allows every topic.
	Policy Policy
	// MaxSubscriptions bounds a session's topic subscriptions (client frames; the
	// token's topics are always granted). 0 = 100.
	MaxSubscriptions int
	// UpstreamPerSecond bounds a session's send and publish frames (0 = 50);
	// RefWindow is how long a ref is remembered to answer a resend without storing
	// it again (0 = 2 min).
	UpstreamPerSecond int
	RefWindow         time.Duration
	// FramesPerSecond bounds every client frame of a session (errors, then 4003);
	// 0 = 100.
	FramesPerSecond int
	// AllowHTTPPush accepts http:// Web Push endpoints in register frames
	// (push.webpush.allow_http: tests on loopback); https:// only otherwise.
	AllowHTTPPush bool
	// TargetsPerSecond bounds a session's register, unregister and targets
	// frames (errors, then 4003 as for every rate); 0 = 5. A client registers
	// once per kind per connection: more is a loop hammering Redis.
	TargetsPerSecond int
	// DispatchWorkers run the actors' mailbox turns; 0 = GOMAXPROCS x 16.
	DispatchWorkers int
	// OnFrame, when set, sees every valid client frame before it is handled. Tests
	// use it to make a session's handling panic.
	OnFrame func(wire.ClientFrame)
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.Shards <= 0 {
		c.Shards = runtime.GOMAXPROCS(0) * 4
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 64 << 10
	}
	if c.MaxInbound <= 0 {
		c.MaxInbound = 16
	}
	if c.FramesPerSecond <= 0 {
		c.FramesPerSecond = 100
	}
	if c.UpstreamPerSecond <= 0 {
		c.UpstreamPerSecond = 50
	}
	if c.TargetsPerSecond <= 0 {
		c.TargetsPerSecond = 5
	}
	if c.RefWindow <= 0 {
		c.RefWindow = 2 * time.Minute
	}
	if c.MaxSubscriptions <= 0 {
		c.MaxSubscriptions = 100
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 20 * time.Second
	}
	if c.DispatchWorkers <= 0 {
		c.DispatchWorkers = runtime.GOMAXPROCS(0) * 16
	}
	return c
}
