package actors

import (
	"context"
	"errors"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-push/herald/wire"
)

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

	open atomic.Int64 // sessions started and not stopped

	clockStop chan struct{} // ends runClock
	clockDone chan struct{}
	clockOnce sync.Once
}

// mailboxThroughput is how many messages an actor handles before it yields its
// worker (protoactor's default).
const mailboxThroughput = 300

// ErrStopped is returned by Open after Shutdown.
var ErrStopped = errors.New("actors: system stopped")

// New starts the actor system, the directory shards and their clock.
func New(cfg Config, deps Deps) *System {
	cfg = cfg.withDefaults()
	s := &System{
		cfg:      cfg,
		deps:     deps,
		nowMs:    func() int64 { return time.Now().UnixMilli() },
		dispatch: newDispatcher(cfg.DispatchWorkers, mailboxThroughput, deps.Metrics.SpawnedTurns),
		sys:      newActorSystem(),
		guardian: sessionGuardian(deps),
	}
	s.sessionProps = s.newSessionProps()
	s.spawnShards()
	s.clockStop, s.clockDone = make(chan struct{}), make(chan struct{})
	go s.runClock(clockEvery(cfg.PingInterval))
	return s
}

// newActorSystem is a protoactor system that logs nothing: its default logger
// writes colored Info lines to stderr, and what matters is counted in Metrics.
func newActorSystem() *actor.ActorSystem {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	return actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }),
		actor.WithDeadLetterRequestLogging(false),
	))
}

// spawnShards starts the directory shards under shardSupervisor.
func (s *System) spawnShards() {
	guardian := shardSupervisor{s}
	for i := 0; i < s.cfg.Shards; i++ {
		d := newShard(s) // kept across restarts: shardSupervisor empties it
		s.shardState = append(s.shardState, d)
		props := actor.PropsFromProducer(func() actor.Actor { return d },
			actor.WithDispatcher(s.dispatch), actor.WithGuardian(guardian))
		s.shards = append(s.shards, s.sys.Root.Spawn(props))
	}
}

// Open spawns the session actor for a new connection.
func (s *System) Open(spec SessionSpec, sock Socket) (*Handle, error) {
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped {
		return nil, ErrStopped
	}
	h := &Handle{
		sys: s, id: spec.ID, user: wire.User(spec.User),
		slots: make(chan struct{}, s.cfg.MaxInbound),
		done:  make(chan struct{}),
	}
	h.out.limit = s.cfg.MaxPendingBytes
	h.pingAt.Store(time.Now().Add(firstPing(s.cfg.PingInterval)).UnixNano())
	if !spec.Expiry.IsZero() {
		h.expireAt.Store(spec.Expiry.UnixNano())
	}
	spec.OpenedMs = time.Now().UnixMilli()
	sess := &session{sys: s, h: h, spec: spec, sock: sock}
	h.spec = &sess.spec
	s.spawnMu.Lock()
	s.spawning = sess
	h.pid.Store(s.sys.Root.Spawn(s.sessionProps))
	s.spawning = nil
	s.spawnMu.Unlock()
	return h, nil
}

// newSessionProps is the one Props every session actor is spawned from: a Props per
// session (its producer closing over the session) cost ~400 B of every idle
// connection. protoactor calls the producer inside Spawn, which Open serializes,
// and the producer takes the session Open prepared. Sessions are never restarted
// (the guardian stops them), so the producer runs once per Spawn.
func (s *System) newSessionProps() *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		if s.spawning == nil {
			return stoppedActor{} // not reached: only Open spawns with these props
		}
		return s.spawning
	}, actor.WithGuardian(s.guardian), actor.WithDispatcher(s.dispatch), actor.WithMailbox(newMailbox))
}

// stoppedActor ignores everything.
type stoppedActor struct{}

func (stoppedActor) Receive(actor.Context) {}

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

// SessionInfo is one session of this node, as the presence query lists it.
type SessionInfo struct {
	ID, User, Device string
	OpenedMs         int64 // unix ms
	// Gone reports whether the session has told Deps.Index it closed: a list
	// taken before that must not list it again afterwards.
	Gone func() bool
}

// SessionInfos lists this node's sessions, from the directory: what Deps.Index
// rewrites when Redis may have lost it, without a session table of its own.
func (s *System) SessionInfos(ctx context.Context) []SessionInfo {
	handles := s.Sessions(ctx)
	out := make([]SessionInfo, 0, len(handles))
	for _, h := range handles {
		out = append(out, SessionInfo{ID: h.id, User: h.spec.User, Device: h.spec.Device, OpenedMs: h.spec.OpenedMs, Gone: h.unlisted.Load})
	}
	return out
}

// Drain closes every session with 1001 in batches of batch, pausing every batch
// for pause plus jitter, so that reconnecting clients spread over the other nodes.
// It returns when all sessions are gone or ctx ends. A batch below 1 closes all
// sessions at once.
func (s *System) Drain(ctx context.Context, batch int, pause time.Duration) error {
	if batch < 1 {
		batch = math.MaxInt
	}
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
