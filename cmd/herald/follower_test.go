package main

import (
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/lxzan/gws"
)

// follower is a client that does what docs/PROTOCOL.md asks of one: on any disconnect it
// reconnects (to the next address) with the last offset it saw, and it drops
// duplicates by id. It records what it received.
type follower struct {
	t     *testing.T
	user  string
	addrs []string

	mu     sync.Mutex
	last   string
	seen   map[string]bool // message ids
	seqs   map[int]int     // seq -> times received
	seqIDs map[int]string  // seq -> the id it came with first
	dups   int             // duplicates dropped by id
	// unmarked counts pushes received again under another id: duplicates a
	// client could not drop (docs/PROTOCOL.md section 2 says they carry the same id).
	unmarked   int
	reconnects int
	lastClose  uint16
	codes      []string
	stop       chan struct{}
	done       chan struct{}
}

func follow(t *testing.T, user string, addrs ...string) *follower {
	f := &follower{t: t, user: user, addrs: addrs, seen: map[string]bool{}, seqs: map[int]int{}, seqIDs: map[int]string{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go f.run()
	t.Cleanup(f.close)
	return f
}

func (f *follower) close() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.done
}

func (f *follower) run() {
	defer close(f.done)
	for i := 0; ; i++ {
		addr := f.addrs[i%len(f.addrs)]
		if i > 0 {
			f.mu.Lock()
			f.reconnects++
			f.mu.Unlock()
		}
		c := f.connect(addr)
		if c == nil {
			select {
			case <-f.stop:
				return
			case <-time.After(100 * time.Millisecond):
				continue
			}
		}
		select {
		case <-f.stop:
			_ = c.conn.WriteClose(1000, nil)
			<-c.closed
			return
		case <-c.closed:
			c.mu.Lock()
			code := c.code
			c.mu.Unlock()
			f.mu.Lock()
			f.lastClose = code
			f.codes = append(f.codes, fmt.Sprint(code))
			f.mu.Unlock()
		}
	}
}

func (f *follower) connect(addr string) *wsClient {
	q := "token=" + mint(f.t, f.user, "", time.Hour)
	f.mu.Lock()
	if f.last != "" {
		q += "&since=" + url.QueryEscape(f.last)
	}
	f.mu.Unlock()
	c := &wsClient{t: f.t, frames: make(chan frame, 16), closed: make(chan struct{})}
	h := &followerHandler{f: f, c: c}
	conn, _, err := gws.NewClient(h, &gws.ClientOption{Addr: "ws://" + addr + "/ws?" + q, ReadMaxPayloadSize: 8 << 20})
	if err != nil {
		return nil
	}
	c.conn = conn
	go conn.ReadLoop()
	return c
}

type followerHandler struct {
	f *follower
	c *wsClient
}

func (h *followerHandler) OnOpen(*gws.Conn)               {}
func (h *followerHandler) OnPing(s *gws.Conn, p []byte)   { _ = s.WritePong(p) }
func (h *followerHandler) OnPong(*gws.Conn, []byte)       {}
func (h *followerHandler) OnClose(s *gws.Conn, err error) { h.c.OnClose(s, err) }
func (h *followerHandler) OnMessage(s *gws.Conn, m *gws.Message) {
	defer m.Close()
	for _, line := range splitLines(m.Bytes()) {
		h.f.record(line)
	}
}

func (f *follower) record(line []byte) {
	fr := decodeFrame(line)
	f.mu.Lock()
	defer f.mu.Unlock()
	if fr.str("type") == "welcome" && f.last == "" {
		f.last = fr.str("offset") // resume point even before the first push
	}
	if fr.str("type") != "push" {
		return
	}
	f.last = fr.str("offset")
	if f.seen[fr.str("id")] {
		f.dups++
		return
	}
	f.seen[fr.str("id")] = true
	if d, ok := fr["data"].(map[string]any); ok {
		if s, ok := d["seq"].(float64); ok {
			f.seqs[int(s)]++
			if first, ok := f.seqIDs[int(s)]; ok && first != fr.str("id") {
				f.unmarked++
			}
			f.seqIDs[int(s)] = fr.str("id")
		}
	}
}

// missing lists the seqs in [0,n) not received.
func (f *follower) missing(n int) []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for i := 0; i < n; i++ {
		if f.seqs[i] == 0 {
			out = append(out, i)
		}
	}
	return out
}

// waitAll waits until every seq in [0,n) arrived, and fails if any arrived again
// under another id.
func (f *follower) waitAll(n int, d time.Duration) {
	f.t.Helper()
	defer func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.unmarked > 0 {
			f.t.Fatalf("%s got %d pushes again under another id: a client cannot drop those", f.user, f.unmarked)
		}
	}()
	testkit.Eventually(f.t, d, func() error {
		if m := f.missing(n); len(m) > 0 {
			if len(m) > 10 {
				m = m[:10]
			}
			return fmt.Errorf("%s misses %d of %d, e.g. %v", f.user, len(f.missing(n)), n, m)
		}
		return nil
	})
}

func (f *follower) closeCodes() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmt.Sprint(f.codes)
}
