package main

import (
	"errors"
	"math/rand"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/gateway/auth"
)

// nemesisArrival is what a client keeps of the first copy of a push.
type nemesisArrival struct {
	ID     string
	Offset string
	At     time.Time
	Node   string
}

// nemesisClient is one user's client, behaving as PROTOCOL.md asks (sections 3 and 4):
// it connects to a random live node, stays a while, leaves, and comes back with
// since = the last offset it saw (the welcome's offset before its first push, then
// the offset of the last push frame received); it drops duplicates by push id. A
// connection the server drops is resumed the same way after a short pause. Every
// frame goes to the run record with the node and session it came on.
type nemesisClient struct {
	user    string
	rng     *rand.Rand // used by the run goroutine only
	cluster *nemesisCluster
	rec     *nemesisRecorder
	slow    bool // sometimes stops reading for a few seconds

	mu        sync.Mutex
	last      string
	seen      map[string]int         // push id -> copies received
	got       map[int]nemesisArrival // seq -> first copy
	idsBySeq  map[int]string
	dups      int // copies of an id already seen (what dedupe dropped)
	wrongUser int
	idClash   int // one seq under two push ids
	late      int // pushes not above their session's previous offset
	lateFirst int // of those, a push's first copy: a resume in between would have skipped it
	sessions  int // welcomes received
	dropped   int // connections ended by the server or the network, not by leaving
	done      chan struct{}
}

func newNemesisClient(user string, seed int64, c *nemesisCluster, rec *nemesisRecorder, slow bool) *nemesisClient {
	return &nemesisClient{user: user, rng: rand.New(rand.NewSource(seed)), cluster: c, rec: rec, slow: slow,
		last: "0-0", // the first session replays everything: history is empty before the run
		seen: map[string]int{}, got: map[int]nemesisArrival{}, idsBySeq: map[int]string{}, done: make(chan struct{})}
}

// between returns a random duration in [lo, hi).
func between(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int63n(int64(hi-lo)))
}

// run repeats connect, stay, leave, stay away until stop is closed.
func (c *nemesisClient) run(stop <-chan struct{}) {
	defer close(c.done)
	for {
		s := c.connect()
		if s == nil {
			if !sleepOrStop(stop, between(c.rng, 100*time.Millisecond, 400*time.Millisecond)) {
				return
			}
			continue
		}
		select {
		case <-stop:
			s.leave()
			return
		case <-s.closed:
			c.recordDrop(s)
			if !sleepOrStop(stop, between(c.rng, 100*time.Millisecond, 500*time.Millisecond)) {
				return
			}
		case <-time.After(between(c.rng, 2*time.Second, 10*time.Second)):
			s.leave()
			c.rec.now(nemesisEvent{Ev: "leave", User: c.user, Node: s.node, Session: s.sessionID()})
			if !sleepOrStop(stop, between(c.rng, 300*time.Millisecond, 3*time.Second)) {
				return
			}
		}
	}
}

func sleepOrStop(stop <-chan struct{}, d time.Duration) bool {
	select {
	case <-stop:
		return false
	case <-time.After(d):
		return true
	}
}

// connect dials a random live node with since = last; nil when the dial failed.
func (c *nemesisClient) connect() *nemesisSession {
	n := c.cluster.pick(c.rng)
	tok, err := auth.Mint([]byte(testSecret), auth.Claims{User: c.user, Expiry: time.Now().Add(24 * time.Hour)}, time.Now())
	if err != nil {
		panic(err) // a fixed, valid user and secret: cannot happen
	}
	c.mu.Lock()
	since := c.last
	c.mu.Unlock()
	s := &nemesisSession{c: c, node: n.id, since: since, closed: make(chan struct{}), quit: make(chan struct{})}
	if c.slow && c.rng.Intn(2) == 0 {
		s.pauseAfter = between(c.rng, 0, 3*time.Second)
		s.pauseFor = between(c.rng, time.Second, 4*time.Second)
	}
	s.opened = time.Now()
	conn, _, err := gws.NewClient(s, &gws.ClientOption{
		Addr:               "ws://" + n.addr + "/ws?token=" + tok + "&since=" + url.QueryEscape(since),
		ReadMaxPayloadSize: 8 << 20,
		HandshakeTimeout:   2 * time.Second, // a SIGSTOPped node accepts TCP and never answers
		NewDialer:          func() (gws.Dialer, error) { return &net.Dialer{Timeout: 2 * time.Second}, nil },
	})
	if err != nil {
		c.rec.now(nemesisEvent{Ev: "dial_fail", User: c.user, Node: n.id, Since: since, Detail: err.Error()})
		return nil
	}
	s.conn = conn
	go conn.ReadLoop()
	return s
}

func (c *nemesisClient) recordDrop(s *nemesisSession) {
	c.mu.Lock()
	c.dropped++
	c.mu.Unlock()
	c.rec.now(nemesisEvent{Ev: "close", User: c.user, Node: s.node, Session: s.sessionID(), Code: int(s.code), Detail: s.closeErr})
}

// nemesisSession is one connection of a client.
type nemesisSession struct {
	c     *nemesisClient
	node  string
	since string
	conn  *gws.Conn

	opened     time.Time
	pauseAfter time.Duration // slow reader: stop reading this long after opening...
	pauseFor   time.Duration // ...for this long (0: never)
	paused     bool          // touched by the read loop only

	mu         sync.Mutex
	session    string
	lastOffset string // the previous push of this session
	code       uint16
	closeErr   string
	closed     chan struct{}
	quit       chan struct{} // closed on leave: ends a slow reader's pause
}

func (s *nemesisSession) sessionID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.session
}

// leave closes the connection the way a client going away does, and waits for the
// read loop to end; a node that does not answer (SIGSTOPped) gets its TCP
// connection closed under it after a second.
func (s *nemesisSession) leave() {
	close(s.quit)
	_ = s.conn.WriteClose(1000, nil)
	select {
	case <-s.closed:
	case <-time.After(time.Second):
		_ = s.conn.NetConn().Close()
		<-s.closed
	}
}

func (s *nemesisSession) OnOpen(*gws.Conn)              {}
func (s *nemesisSession) OnPing(cn *gws.Conn, p []byte) { _ = cn.WritePong(p) }
func (s *nemesisSession) OnPong(*gws.Conn, []byte)      {}
func (s *nemesisSession) OnClose(_ *gws.Conn, err error) {
	var ce *gws.CloseError
	s.mu.Lock()
	if errors.As(err, &ce) {
		s.code = ce.Code
	} else if err != nil {
		s.closeErr = err.Error()
	}
	s.mu.Unlock()
	close(s.closed)
}

func (s *nemesisSession) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	at := time.Now()
	for _, line := range splitLines(m.Bytes()) {
		s.handle(at, decodeFrame(line))
	}
	s.maybePause()
}

// maybePause makes a slow reader stop reading (the read loop blocks, so TCP pushes
// back on the node) once per session.
func (s *nemesisSession) maybePause() {
	if s.pauseFor == 0 || s.paused || time.Since(s.opened) < s.pauseAfter {
		return
	}
	s.paused = true
	s.c.rec.now(nemesisEvent{Ev: "pause", User: s.c.user, Node: s.node, Session: s.sessionID(), Detail: s.pauseFor.String()})
	select {
	case <-s.quit:
	case <-time.After(s.pauseFor):
	}
}

func (s *nemesisSession) handle(at time.Time, f frame) {
	switch f.str("type") {
	case "welcome":
		s.welcome(at, f)
	case "push":
		s.push(at, f)
	case "recovered":
		complete, _ := f["complete"].(bool)
		ev := nemesisEvent{Ev: "recovered", User: s.c.user, Node: s.node, Session: s.sessionID()}
		if !complete {
			ev.Ev, ev.Detail = "anomaly", "recovered complete:false"
		}
		s.c.rec.add(at, ev)
	default:
		s.c.rec.add(at, nemesisEvent{Ev: "anomaly", User: s.c.user, Node: s.node, Session: s.sessionID(), Detail: "frame " + f.str("type") + " " + f.str("raw")})
	}
}

// welcome: the welcome's offset is the resume point until the first push.
func (s *nemesisSession) welcome(at time.Time, f frame) {
	s.mu.Lock()
	s.session = f.str("session")
	s.mu.Unlock()
	c := s.c
	c.mu.Lock()
	c.last = f.str("offset")
	c.sessions++
	c.mu.Unlock()
	ev := nemesisEvent{Ev: "welcome", User: c.user, Node: f.str("node"), Session: f.str("session"), Since: s.since, Offset: f.str("offset")}
	if f.str("user") != c.user || f.str("node") != s.node || f.str("offset") != s.since {
		ev.Detail = "unexpected welcome: " + f.str("user") + " " + f.str("node") + " " + f.str("offset")
	}
	c.rec.add(at, ev)
}

func (s *nemesisSession) push(at time.Time, f frame) {
	c := s.c
	id, off := f.str("id"), f.str("offset")
	data, _ := f["data"].(map[string]any)
	seqf, _ := data["seq"].(float64)
	seq, to := int(seqf), f.str("to")
	owner, _ := data["u"].(string)

	s.mu.Lock()
	session := s.session
	prev := s.lastOffset
	late := prev != "" && !offsetAbove(off, prev)
	s.lastOffset = off
	s.mu.Unlock()

	c.mu.Lock()
	c.last = off // the last push received, as the contract says (not the highest)
	c.seen[id]++
	dup := c.seen[id] > 1
	if dup {
		c.dups++
	}
	if late {
		c.late++
		if !dup {
			c.lateFirst++
		}
	}
	if to != c.user || owner != c.user {
		c.wrongUser++
	}
	if prev, ok := c.idsBySeq[seq]; ok && prev != id {
		c.idClash++
	} else if !ok {
		c.idsBySeq[seq] = id
	}
	if _, ok := c.got[seq]; !ok {
		c.got[seq] = nemesisArrival{ID: id, Offset: off, At: at, Node: s.node}
	}
	c.mu.Unlock()

	ev := nemesisEvent{Ev: "push", User: c.user, Node: s.node, Session: session, Offset: off, ID: id, Seq: seq, Dup: dup, Late: late}
	if to != c.user || owner != c.user {
		ev.Detail = "wrong user: to " + to + ", data for " + owner
	} else if late && !dup {
		ev.Detail = "first copy, below the session's previous push " + prev
	}
	c.rec.add(at, ev)
}

// offsetAbove compares two stream ids <ms>-<seq>.
func offsetAbove(a, b string) bool {
	am, as := splitOffset(a)
	bm, bs := splitOffset(b)
	return am > bm || (am == bm && as > bs)
}

func splitOffset(o string) (ms, seq uint64) {
	var i int
	for i < len(o) && o[i] != '-' {
		ms = ms*10 + uint64(o[i]-'0')
		i++
	}
	for i++; i < len(o); i++ {
		seq = seq*10 + uint64(o[i]-'0')
	}
	return ms, seq
}

// arrival returns the first copy of seq, if any.
func (c *nemesisClient) arrival(seq int) (nemesisArrival, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.got[seq]
	return a, ok
}

// hasAll reports whether every seq of pubs arrived.
func (c *nemesisClient) hasAll(pubs []nemesisPub) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range pubs {
		if _, ok := c.got[p.Seq]; !ok {
			return false
		}
	}
	return true
}
