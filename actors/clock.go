package actors

import (
	"math/rand/v2"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-push/herald/wire"
)

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

// firstPing is when a new session first pings its client: at a random point of the
// second half of the interval, then every interval (the user's directory shard
// sends the pings, see shard.clock). Sessions opened together (the
// clients of a failed node reconnecting, a load test) would otherwise ping
// together for as long as they live: 10,000 pings and pongs in the same second.
func firstPing(interval time.Duration) time.Duration {
	return interval/2 + rand.N(interval/2+1)
}

// clock pings the shard's sessions whose ping is due and closes with 4001 those
// whose token expired. A session is visited under its user only (its topics may
// live in other shards). Two timers per session cost about 250 bytes of every
// idle connection; one tick per shard costs a walk over its users.
func (d *shard) clock(ctx actor.Context, now int64) {
	every := d.sys.cfg.PingInterval.Nanoseconds()
	for r, list := range d.byRcpt {
		if r.Kind != wire.KindUser {
			continue
		}
		for _, h := range list {
			if exp := h.expireAt.Load(); exp != 0 && now >= exp {
				h.expireAt.Store(0)
				d.sys.deps.Metrics.ExpiryClosed.Inc()
				ctx.Send(h.pid.Load(), &closeReq{code: wire.CloseTokenExpired, reason: "token expired"})
			}
			if now >= h.pingAt.Load() {
				h.pingAt.Store(now + every)
				ctx.Send(h.pid.Load(), pingTick{})
			}
		}
	}
}
