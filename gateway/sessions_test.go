package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/wire"
)

// The gateway in front of a real actors.System, as cmd/herald wires them, with
// in-memory fakes for the Redis-backed services the actors use: what a client
// sees of the session layer through the gateway.

type nopHistory struct{}

func (nopHistory) Top(context.Context, wire.Recipient) (wire.Offset, error) {
	return wire.Offset{}, nil
}

func (nopHistory) Replay(_ context.Context, _ wire.Recipient, since wire.Offset, _ func([]*wire.Push) error) (wire.Offset, bool, error) {
	return since, true, nil
}

func (nopHistory) LiveOnly(wire.Recipient) bool { return false }

func (nopHistory) ReplayAfter(_ context.Context, _ wire.Recipient, since wire.Offset, _ func([]*wire.Push) error) (wire.Offset, error) {
	return since, nil
}

type nopCursors struct{}

func (nopCursors) Get(context.Context, string, string) (wire.Offset, bool, error) {
	return wire.Offset{}, false, nil
}
func (nopCursors) Set(string, string, wire.Offset) {}

type readyPresence struct{}

func (readyPresence) Add(_ wire.Recipient, ready func()) { ready() }
func (readyPresence) Remove(wire.Recipient)              {}

// fullLimit: every user is at limits.max_sessions_per_user already.
type fullLimit struct{}

func (fullLimit) Enabled() bool                                 { return true }
func (fullLimit) Acquire(context.Context, string) (bool, error) { return false, nil }
func (fullLimit) Release(string)                                {}

// actorsEnv is a gateway whose Sessions is an actors.System.
type actorsEnv struct {
	*testServer
	sys *actors.System
	am  *actors.Metrics
}

// startActors starts the actors with acfg (and the node id and ping interval that
// cmd/herald derives from cfg), then the gateway in front of them. The actors
// drain and stop when the test ends, after the gateway.
func startActors(t *testing.T, cfg Config, acfg actors.Config, limit actors.SessionLimit) *actorsEnv {
	t.Helper()
	acfg.Node, acfg.PingInterval = cfg.Node, cfg.PingTimeout/3
	if acfg.MaxPendingBytes == 0 {
		acfg.MaxPendingBytes = 1 << 20
	}
	am := actors.NewMetrics(prometheus.NewRegistry())
	sys := actors.New(acfg, actors.Deps{
		History: nopHistory{}, Cursors: nopCursors{}, Presence: readyPresence{}, Limit: limit,
		Log: quietLog(), Metrics: am,
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sys.Drain(ctx, 1000, 0); err != nil {
			t.Errorf("Drain: %v", err)
		}
		if err := sys.Shutdown(ctx); err != nil {
			t.Errorf("actors Shutdown: %v", err)
		}
	})
	return &actorsEnv{testServer: startServer(t, cfg, Deps{Sessions: sys}), sys: sys, am: am}
}

// pushes makes n user pushes to user, numbered from first, of size bytes of data.
func pushes(user string, first, n, size int) []*wire.Push {
	out := make([]*wire.Push, n)
	for i := range out {
		seq := first + i
		p := &wire.Push{
			Recipient: wire.User(user), ID: "m" + strconv.Itoa(seq), TS: time.Now().UnixMilli(),
			Offset: wire.Offset{Ms: 1_700_000_000_000 + uint64(seq)},
			Data:   []byte(`{"pad":"` + strings.Repeat("x", size) + `"}`),
		}
		p.Encode()
		out[i] = p
	}
	return out
}

// The welcome carries the identity the gateway took from the token, and pushes to
// that user reach this connection.
func TestSessionWelcomeAndPush(t *testing.T) {
	e := startActors(t, testConfig(), actors.Config{}, nil)
	c := dial(t, e.wsURL("/ws"), bearer(mint(t, auth.Claims{User: "alice", Device: "phone"})))
	var welcome struct{ Type, Session, Node, User, Offset string }
	if err := json.Unmarshal([]byte(c.next(t)), &welcome); err != nil {
		t.Fatal(err)
	}
	if welcome.Type != "welcome" || welcome.Session != "n1-"+e.run+"-1" || welcome.Node != "n1" ||
		welcome.User != "alice" || welcome.Offset != "0-0" {
		t.Fatalf("welcome %+v", welcome)
	}
	e.sys.Deliver(pushes("alice", 1, 1, 4), nil, nil)
	var push struct{ Type, ID, Offset, To string }
	if err := json.Unmarshal([]byte(c.next(t)), &push); err != nil {
		t.Fatal(err)
	}
	if push.Type != "push" || push.ID != "m1" || push.Offset != "1700000000001-0" || push.To != "alice" {
		t.Fatalf("push %+v", push)
	}
}

// Over limits.max_sessions_per_user the session is closed with 4009 and its
// reason, before any welcome.
func TestSessionLimitClosesWith4009(t *testing.T) {
	e := startActors(t, testConfig(), actors.Config{}, fullLimit{})
	c := dial(t, e.wsURL("/ws"), bearer(mint(t, auth.Claims{User: "alice"})))
	if ce := c.closeFrame(t); ce.Code != wire.CloseTooManySessions || string(ce.Reason) != "too many sessions for this user" {
		t.Fatalf("closed with %d %q, want 4009", ce.Code, ce.Reason)
	}
	select {
	case m := <-c.msgs:
		t.Fatalf("a session over the limit got %q", m)
	default:
	}
	if n := value(t, e.am.LimitClosed); n != 1 {
		t.Errorf("herald_session_limit_closes_total = %v, want 1", n)
	}
}

// A token that expires during the session closes it with 4001.
func TestExpiredTokenClosesWith4001(t *testing.T) {
	e := startActors(t, testConfig(), actors.Config{}, nil)
	tok := mint(t, auth.Claims{User: "alice", Expiry: time.Now().Add(1500 * time.Millisecond)})
	c := dial(t, e.wsURL("/ws"), bearer(tok))
	if ce := c.closeFrame(t); ce.Code != wire.CloseTokenExpired {
		t.Fatalf("closed with %d %q, want 4001", ce.Code, ce.Reason)
	}
}

// More unsent bytes than limits.max_pending_bytes close the session with 4008,
// counted; a client still reading gets the code.
func TestOverBudgetClosesWith4008(t *testing.T) {
	e := startActors(t, testConfig(), actors.Config{MaxPendingBytes: 64 << 10}, nil)
	c := dial(t, e.wsURL("/ws"), bearer(mint(t, auth.Claims{User: "alice"})))
	c.next(t) // the welcome: the session is attached
	e.sys.Deliver(pushes("alice", 1, 8, 16<<10), nil, nil)
	if ce := c.closeFrame(t); ce.Code != wire.CloseSlowConsumer {
		t.Fatalf("closed with %d %q, want 4008", ce.Code, ce.Reason)
	}
	if n := value(t, e.am.SlowClosed); n != 1 {
		t.Errorf("herald_slow_consumer_closes_total = %v, want 1", n)
	}
}

// A client that stops reading: the session's write runs into
// gateway.write_timeout, fails, is counted, and the connection is closed; the
// client, reading again, finds the stream ended (no close frame can reach it,
// docs/ARCHITECTURE.md departure 5), and the session is gone.
func TestStalledClientIsCutByTheWriteDeadline(t *testing.T) {
	cfg := testConfig()
	cfg.WriteTimeout = 300 * time.Millisecond
	e := startActors(t, cfg, actors.Config{MaxPendingBytes: 1 << 30}, nil)
	c := mustUpgrade(t, e.addr, "/ws", bearer(mint(t, auth.Claims{User: "alice"})))
	c.mustRead(t, opText) // the welcome; from here on the client reads nothing
	deadline := time.Now().Add(20 * time.Second)
	for n := 0; value(t, e.am.WriteErrors) == 0; n += 32 {
		if time.Now().After(deadline) {
			t.Fatal("no write failed within 20 s of a client that stopped reading")
		}
		written := make(chan struct{})
		e.sys.Deliver(pushes("alice", n, 32, 32<<10), nil, func() { close(written) })
		select {
		case <-written:
		case <-time.After(50 * time.Millisecond): // blocked: keep queueing
		}
	}
	waitFor(t, "the session stopped", func() bool { return value(t, e.am.Sessions) == 0 })
	c.waitEOF(t)
}

// A client that sends nothing, not even a pong, is closed after
// gateway.ping_timeout and counted; one that answers the pings stays.
func TestIdleClientIsClosed(t *testing.T) {
	cfg := testConfig()
	cfg.PingTimeout = 300 * time.Millisecond
	e := startActors(t, cfg, actors.Config{}, nil)
	answering := dial(t, e.wsURL("/ws"), bearer(mint(t, auth.Claims{User: "bob"})))
	silent := mustUpgrade(t, e.addr, "/ws", bearer(mint(t, auth.Claims{User: "alice"})))
	pings := 0
	for {
		op, _, err := silent.readFrame()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("a silent client was not closed within 10 s (%d pings)", pings)
		}
		if err != nil {
			break
		}
		if op == opPing {
			pings++
		}
	}
	if pings == 0 {
		t.Error("the silent client was closed without being pinged")
	}
	if n := value(t, e.metrics.IdleClosed); n != 1 {
		t.Errorf("herald_idle_closes_total = %v, want 1", n)
	}
	waitFor(t, "the answering client pinged through 4 ping timeouts", func() bool { return answering.pings.Load() >= 12 })
	select {
	case err := <-answering.closed:
		t.Fatalf("a client answering pings was closed: %v", err)
	default:
	}
	if n := value(t, e.metrics.IdleClosed); n != 1 {
		t.Errorf("herald_idle_closes_total = %v after the answering client's pings, want still 1", n)
	}
}
