package gateway

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// socket is a session's view of its connection: writes are serialized (gws writes
// too, so the order of a close frame and data matters) and bounded by the
// connection's deadlineConn; a failed write closes the connection (gws does that),
// which ends in OnClose.
type socket struct {
	c           *gws.Conn
	dc          *deadlineConn
	idleTimeout time.Duration // gateway.ping_timeout
	metrics     *Metrics
	info        sessionInfo // for the log lines; set before the session opens
	mu          sync.Mutex
	sentCode    uint16 // under mu: the code of our close frame, 0 until one is sent
	sentReason  string
	idle        atomic.Bool            // Ping closed the connection: the client was silent
	closing     atomic.Bool            // our close frame is sent
	lastSeen    atomic.Int64           // unix ns of the client's last frame of any kind
	pong        atomic.Pointer[[]byte] // the payload of the ping to answer next
	ponging     atomic.Bool            // a goroutine is answering pings
}

func (s *socket) write(f func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return gws.ErrConnClosed // nothing may follow a close frame
	}
	return f()
}

func (s *socket) WriteText(parts ...[]byte) error {
	return s.write(func() error {
		if len(parts) == 1 {
			return s.c.WriteMessage(gws.OpcodeText, parts[0])
		}
		return s.c.Writev(gws.OpcodeText, parts...)
	})
}

// errIdle: the client sent nothing, not even a pong, for the ping timeout.
var errIdle = errors.New("gateway: client silent for the ping timeout")

// Ping pings the client, or closes the connection when the client has sent nothing
// for the ping timeout (a dead peer, or one that does not answer pings). The
// session pings every third of the timeout, so a silent client is cut between one
// and four thirds of it after its last frame.
func (s *socket) Ping() error {
	if time.Since(time.Unix(0, s.lastSeen.Load())) > s.idleTimeout {
		s.metrics.IdleClosed.Inc()
		s.idle.Store(true)
		_ = s.c.NetConn().Close() // the read loop ends, and OnClose tears down
		return errIdle
	}
	return s.write(func() error { return s.c.WritePing(nil) })
}

// owePong answers a ping from the read goroutine without writing there: a write
// grows the stack every idle connection parks with past 2 KiB (a go statement runs
// on the system stack). One goroutine at a time answers; pings that arrive while it
// is busy only replace the payload it answers next (RFC 6455 5.5.3 allows answering
// only the latest), so a client flooding pings holds at most one goroutine.
func (s *socket) owePong(payload []byte) {
	s.pong.Store(&payload)
	if s.ponging.CompareAndSwap(false, true) {
		go s.sendPongs()
	}
}

func (s *socket) sendPongs() {
	for {
		if p := s.pong.Swap(nil); p != nil {
			_ = s.write(func() error { return s.c.WritePong(*p) })
		}
		s.ponging.Store(false)
		// A ping stored after the Swap but before the Store found ponging set and
		// left its answer to this goroutine.
		if s.pong.Load() == nil || !s.ponging.CompareAndSwap(false, true) {
			return
		}
	}
}

// closeWriteTimeout bounds the close frame (a client that stopped reading does not
// get it); closeReplyTimeout bounds the wait for the client's close frame.
const (
	closeWriteTimeout = time.Second
	closeReplyTimeout = 2 * time.Second
)

// Close starts the closing handshake: our close frame, then the connection stays
// open for reading until the client answers with its own (gws then closes it) or
// closeReplyTimeout passes. Closing the TCP connection at once, as gws's WriteClose
// does, resets it while a client is still sending, and the client then never sees
// the close code.
func (s *socket) Close(code uint16, reason string) {
	s.mu.Lock()
	if s.closing.Swap(true) {
		s.mu.Unlock()
		return
	}
	s.sentCode, s.sentReason = code, reason
	s.dc.pin(time.Now().Add(closeWriteTimeout))
	payload := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), code)
	err := s.c.WriteMessage(gws.OpcodeCloseConnection, append(payload, reason...))
	s.mu.Unlock()
	if err != nil {
		return // gws closed the connection on the failed write
	}
	// gws answers the client's close frame with one of its own; after ours that
	// would be a second close frame, which browsers reject (they then report 1006,
	// not our code). Refusing it makes gws close the connection as it would have
	// anyway.
	s.dc.refuseWrites()
	_ = s.c.SetReadDeadline(time.Now().Add(closeReplyTimeout))
}
