// Package actors holds Herald's actors: one session actor per WebSocket connection
// and the sharded directory that maps recipients to the local sessions.
package actors

import (
	"context"
	"errors"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-push/herald/wire"
)

// History is what sessions need from the history streams.
type History interface {
	Top(ctx context.Context, r wire.Recipient) (wire.Offset, error)
	Replay(ctx context.Context, r wire.Recipient, since wire.Offset, page func([]*wire.Push) error) (last wire.Offset, complete bool, err error)
	// ReplayAfter is Replay for a start the node chose (no completeness to judge).
	ReplayAfter(ctx context.Context, r wire.Recipient, since wire.Offset, page func([]*wire.Push) error) (last wire.Offset, err error)
}

// Cursors stores devices' last acked offsets.
type Cursors interface {
	Get(ctx context.Context, user, device string) (wire.Offset, bool, error)
	Set(user, device string, o wire.Offset)
}

// Presence lists this node in a recipient's presence set in Redis.
type Presence interface {
	Add(r wire.Recipient, ready func())
	Remove(r wire.Recipient)
}

// Policy is the topic policy.
type Policy interface {
	CanSubscribe(user, topic string, granted []string) bool
	CanPublish(user, topic string) bool
}

// SessionLimit enforces limits.max_sessions_per_user across the cluster.
type SessionLimit interface {
	Enabled() bool
	Acquire(ctx context.Context, user string) (bool, error)
	Release(user string)
}

// Acks learns which user pushes a device handled (delivery.ack_timeout).
type Acks interface {
	Ack(user string, o wire.Offset)
}

// Socket is the connection a session writes to. Implementations put a deadline on
// every write; a failed write closes the connection.
type Socket interface {
	// WriteText writes one text message made of parts, concatenated.
	WriteText(parts ...[]byte) error
	// Ping pings the client (or closes a connection whose client went silent).
	Ping() error
	// Close sends a close frame with code and reason and closes the connection.
	Close(code uint16, reason string)
}

// Config tunes the actors of one node.
type Config struct {
	Node            string
	Shards          int // directory shards; 0 = GOMAXPROCS x 4
	MaxPendingBytes int // unsent bytes per session before it is closed with 4008
	MaxMessageBytes int // the largest WebSocket message coalesced pushes are packed into
	MaxInbound      int // client frames waiting for a session's actor before its reads pause
	// PingInterval is how often a session pings its client. Browsers cannot send
	// pings, so the server's pings (answered by pongs) keep quiet sessions alive.
	PingInterval time.Duration
	// Policy says which topics a user may subscribe to; nil allows every topic.
	Policy Policy
	// MaxSubscriptions bounds a session's topic subscriptions (client frames; the
	// token's topics are always granted).
	MaxSubscriptions int
	// UpstreamPerSecond bounds a session's send and publish frames; RefWindow is how
	// long a ref is remembered to answer a resend without storing it again.
	UpstreamPerSecond int
	RefWindow         time.Duration
	// FramesPerSecond bounds every client frame of a session (errors, then 4003).
	FramesPerSecond int
	// DispatchWorkers run the actors' mailbox turns; 0 = GOMAXPROCS x 16.
	DispatchWorkers int
	// OnFrame, when set, sees every valid client frame before it is handled. Tests
	// use it to make a session's handling panic.
	OnFrame func(wire.ClientFrame)
}

// Deps are the Redis-backed services the actors use.
type Deps struct {
	History  History
	Cursors  Cursors
	Presence Presence
	Limit    SessionLimit
	Acks     Acks
	Upstream Upstream
	Log      *slog.Logger
	Metrics  *Metrics
}

// System is one node's actor system: the directory shards and the session actors.
type System struct {
	cfg    Config
	deps   Deps
	sys    *actor.ActorSystem
	shards []*actor.PID
	// shardState[i] is shard i's actor, which survives its restarts.
	shardState []*shard
	guardian   actor.SupervisorStrategy
	nowMs      func() int64
	parts      sync.Pool // [][]byte scratch for coalesced writes
	dispatch   *dispatcher

	spawnMu      sync.Mutex // serializes Open's Spawn: sessionProps's producer reads spawning
	spawning     *session
	sessionProps *actor.Props

	mu      sync.Mutex
	stopped bool
	attach  sync.WaitGroup // session goroutines reading Redis
	// attachClosed: Shutdown waits for attach; no goroutine joins it after that.
	attachClosed bool

	clockStop chan struct{} // ends runClock
	clockDone chan struct{}
	clockOnce sync.Once
}

// mailboxThroughput is how many messages an actor handles before it yields its
// worker (protoactor's default).
const mailboxThroughput = 300

// ErrStopped is returned by Open after Shutdown.
var ErrStopped = errors.New("actors: system stopped")

// New starts the actor system and the directory shards.
func New(cfg Config, deps Deps) *System {
	if cfg.Shards <= 0 {
		cfg.Shards = runtime.GOMAXPROCS(0) * 4
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 64 << 10
	}
	if cfg.MaxInbound <= 0 {
		cfg.MaxInbound = 16
	}
	if cfg.FramesPerSecond <= 0 {
		cfg.FramesPerSecond = 100
	}
	if cfg.UpstreamPerSecond <= 0 {
		cfg.UpstreamPerSecond = 50
	}
	if cfg.RefWindow <= 0 {
		cfg.RefWindow = 2 * time.Minute
	}
	if cfg.MaxSubscriptions <= 0 {
		cfg.MaxSubscriptions = 100
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 20 * time.Second
	}
	if cfg.DispatchWorkers <= 0 {
		cfg.DispatchWorkers = runtime.GOMAXPROCS(0) * 16
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := &System{
		cfg:      cfg,
		deps:     deps,
		nowMs:    func() int64 { return time.Now().UnixMilli() },
		dispatch: newDispatcher(cfg.DispatchWorkers, mailboxThroughput, deps.Metrics.SpawnedTurns),
		sys: actor.NewActorSystemWithConfig(actor.Configure(
			actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }),
			actor.WithDeadLetterRequestLogging(false),
		)),
	}
	// A session that panics is stopped, never restarted: its connection state cannot
	// be rebuilt, and its client resumes from history on a new connection.
	s.guardian = actor.NewOneForOneStrategy(0, 0, func(reason any) actor.Directive {
		deps.Metrics.Panics.Inc()
		deps.Log.Error("session panicked; closing it with 1011", "reason", reason)
		return actor.StopDirective
	})
	s.sessionProps = s.newSessionProps()
	guardian := shardSupervisor{s}
	for i := 0; i < cfg.Shards; i++ {
		d := newShard(s) // kept across restarts: shardSupervisor empties it
		s.shardState = append(s.shardState, d)
		props := actor.PropsFromProducer(func() actor.Actor { return d },
			actor.WithDispatcher(s.dispatch), actor.WithGuardian(guardian))
		s.shards = append(s.shards, s.sys.Root.Spawn(props))
	}
	s.clockStop, s.clockDone = make(chan struct{}), make(chan struct{})
	go s.runClock(clockEvery(cfg.PingInterval))
	return s
}

// clockEvery is how often the shards look for pings due and expired tokens: every
// 100 ms, or a quarter of the ping interval when that is shorter. A tick writes the
// pings that fell due since the last one together; at one tick a second, 10,000
// sessions' pings came as bursts of 500 writes that held pushes behind them (p99
// at 2,000 msgs/s 3 -> 6-10 ms, bench/RESULTS.md).
func clockEvery(ping time.Duration) time.Duration {
	return max(10*time.Millisecond, min(100*time.Millisecond, ping/4))
}

// runClock ticks every shard until stopClock.
func (s *System) runClock(every time.Duration) {
	defer close(s.clockDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			for _, pid := range s.shards {
				s.sys.Root.Send(pid, clockTick{now: now.UnixNano()})
			}
		case <-s.clockStop:
			return
		}
	}
}

func (s *System) stopClock() {
	s.clockOnce.Do(func() { close(s.clockStop) })
	<-s.clockDone
}

func (s *System) shardOf(r wire.Recipient) *actor.PID {
	h := fnv.New32a()
	_, _ = h.Write([]byte{byte(r.Kind)})
	_, _ = h.Write([]byte(r.Name))
	return s.shards[h.Sum32()%uint32(len(s.shards))]
}

// Deliver hands pushes to the sessions of their recipients on this node. accepted
// runs once every directory shard has queued them on its sessions; written once
// every session wrote them or was cut off. Either may be nil.
func (s *System) Deliver(pushes []*wire.Push, accepted, written func()) {
	acc, wr := newTracker(accepted), newTracker(written)
	groups := make(map[*actor.PID][]*wire.Push, len(s.shards))
	for _, p := range pushes {
		pid := s.shardOf(p.Recipient)
		groups[pid] = append(groups[pid], p)
	}
	for pid, g := range groups {
		acc.add()
		wr.add()
		s.sys.Root.Send(pid, &deliver{pushes: g, accepted: acc, written: wr})
	}
	acc.release()
	wr.release()
}

// Sessions lists the sessions registered in the directory.
func (s *System) Sessions(ctx context.Context) []*Handle {
	var all []*Handle
	seen := make(map[*Handle]bool)
	for _, pid := range s.shards {
		d := time.Second
		if dl, ok := ctx.Deadline(); ok {
			d = time.Until(dl)
		}
		res, err := s.sys.Root.RequestFuture(pid, &listSessions{}, d).Result()
		if err != nil {
			continue
		}
		for _, h := range res.([]*Handle) {
			if !seen[h] {
				seen[h] = true
				all = append(all, h)
			}
		}
	}
	return all
}

// Drain closes every session with 1001 in batches of batch, pausing every batch
// for pause plus jitter, so that reconnecting clients spread over the other nodes.
// It returns when all sessions are gone or ctx ends.
func (s *System) Drain(ctx context.Context, batch int, pause time.Duration) error {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	handles := s.Sessions(ctx)
	for i, h := range handles {
		h.closeWith(wire.CloseGoingAway, "node draining")
		s.deps.Metrics.DrainClosed.Inc()
		if (i+1)%batch == 0 {
			jitter := time.Duration(rand.Int64N(int64(pause) + 1))
			select {
			case <-time.After(pause + jitter):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	for _, h := range handles {
		select {
		case <-h.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Reconnect closes every session with 1001 so that its client resumes from history,
// on this node or another; the node keeps serving. For when this node's presence
// was lost and its sessions may have missed live pushes.
func (s *System) Reconnect(ctx context.Context) {
	for _, h := range s.Sessions(ctx) {
		h.closeWith(wire.CloseGoingAway, "node rejoining the cluster; resume")
	}
}

// Shutdown stops the actors; call it after Drain. Idempotent.
func (s *System) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	already := s.stopped && s.sys.IsStopped()
	s.stopped, s.attachClosed = true, true
	s.mu.Unlock()
	if already {
		return nil
	}
	s.stopClock() // first: Shutdown may return at ctx below, and the clock is ours to stop
	done := make(chan struct{})
	go func() { s.attach.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, pid := range s.shards {
		_ = s.sys.Root.StopFuture(pid).Wait()
	}
	s.sys.Shutdown()
	s.dispatch.close()
	return nil
}

// goAttach runs f, a session's Redis work, tracked so Shutdown can wait for it.
// A session still starting when Shutdown began gets none: Shutdown waits for the
// attach goroutines, and a WaitGroup must not grow from zero while it is waited on.
// That session is stopped with the rest.
func (s *System) goAttach(f func()) {
	s.mu.Lock()
	closed := s.attachClosed
	if !closed {
		s.attach.Add(1)
	}
	s.mu.Unlock()
	if closed {
		return
	}
	go func() {
		defer s.attach.Done()
		f()
	}()
}

func (s *System) getParts() *[][]byte {
	if p, ok := s.parts.Get().(*[][]byte); ok {
		return p
	}
	p := make([][]byte, 0, 64)
	return &p
}

func (s *System) putParts(p *[][]byte) {
	clear(*p)
	*p = (*p)[:0]
	s.parts.Put(p)
}
