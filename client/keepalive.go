package client

import (
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/lxzan/gws"
)

// keepalive runs beside a connection's read loop, until stop is closed: it sends
// the batched acks, pings the node and replaces a connection on which nothing
// arrived for too long.
func (c *Client) keepalive(ws *gws.Conn, raw net.Conn, ev *events, stop <-chan struct{}) {
	var ping <-chan time.Time
	var pinger *time.Timer
	if c.cfg.PingInterval > 0 {
		pinger = time.NewTimer(firstPing(c.cfg.PingInterval))
		defer pinger.Stop()
		ping = pinger.C
	}
	var acks ackSchedule
	defer acks.stop()
	flush := func() { c.flushAcks(ws) }
	for {
		select {
		case <-stop:
			return
		case <-c.kick:
			acks.kicked(flush)
		case <-acks.due:
			acks.fired(flush)
		case <-ping:
			if !c.ping(ws, raw, ev) {
				return
			}
			pinger.Reset(c.cfg.PingInterval)
		}
	}
}

// ping pings the node, unless nothing arrived from it for three intervals: then the
// connection is dead though TCP has not noticed, and ping closes it (the read loop
// ends, and the client reconnects) and reports false.
func (c *Client) ping(ws *gws.Conn, raw net.Conn, ev *events) bool {
	silent := time.Since(time.Unix(0, ev.lastRecv.Load()))
	if silent > 3*c.cfg.PingInterval {
		ev.killed.Store(&CloseError{Code: codeAbnormal, Reason: fmt.Sprintf("nothing from the node for %v", silent.Round(time.Second))})
		_ = raw.Close()
		return false
	}
	_ = c.write(ws, gws.OpcodePing, nil)
	return true
}

// firstPing is when a new connection first pings: at a random point of the second
// half of the interval, then every interval. Clients that connected together (after
// a node failed) would otherwise ping together for as long as they live.
func firstPing(interval time.Duration) time.Duration {
	return interval/2 + rand.N(interval/2+1)
}
