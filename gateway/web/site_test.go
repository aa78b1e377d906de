package web_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/gateway/web"
	"github.com/herald-push/herald/streams"
)

// The site of the browser tests: web.Handler plus the harness page and endpoints.

type site struct {
	url   string
	mu    sync.Mutex
	conns map[string]int // fake node: connections per key
}

func (s *site) fakeConns(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[key]
}

func startSite(t *testing.T, rdb *redis.Client) *site {
	s := &site{conns: map[string]int{}}
	pub := streams.NewPublisher(rdb, streams.NewKeys("herald", 1), 64<<10, nil)
	mux := http.NewServeMux()
	mux.Handle("/", web.Handler(web.Config{Demo: true, Secret: []byte(testSecret), Publish: pub.Publish}))
	mux.HandleFunc("GET /test/page", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, harnessPage)
	})
	mux.HandleFunc("GET /test/token", func(w http.ResponseWriter, r *http.Request) {
		ttl, _ := strconv.Atoi(r.URL.Query().Get("ttl"))
		now := time.Now()
		tok, err := auth.Mint([]byte(testSecret), auth.Claims{User: r.URL.Query().Get("user"), Expiry: now.Add(time.Duration(ttl) * time.Second)}, now)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"token": tok})
	})
	up := gws.NewUpgrader(gws.BuiltinEventHandler{}, nil)
	mux.HandleFunc("GET /test/fake", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		code, _ := strconv.Atoi(q.Get("code"))
		s.mu.Lock()
		s.conns[q.Get("key")]++
		n := s.conns[q.Get("key")]
		s.mu.Unlock()
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		_ = c.WriteString(fmt.Sprintf(`{"type":"welcome","session":"fake-%d","node":"fake","user":"fake","offset":"0-0"}`, n))
		time.Sleep(20 * time.Millisecond)
		_ = c.WriteClose(uint16(code), []byte("test"))
		c.ReadLoop()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// harnessPage imports herald.js and records every client's events.
const harnessPage = `<!doctype html>
<meta charset="utf-8"><title>herald.js test</title>
<script type="module">
import { Herald, compareOffsets } from "/herald.js";
const params = new URLSearchParams(location.search);
const WS = params.get("ws");
// Count WebSocket messages that carry several frames.
window.multiFrames = 0;
const Native = WebSocket;
window.WebSocket = class extends Native {
  constructor(...a) {
    super(...a);
    this.addEventListener("message", (e) => { if (typeof e.data === "string" && e.data.includes("\n")) window.multiFrames++; });
  }
};
window.compareOffsets = compareOffsets;
window.T = {};
window.mk = (name, user, o = {}) => {
  const rec = { pushes: [], dups: [], states: [], recovered: [], errors: [], welcomes: [], subscribed: [], tokens: 0 };
  const getToken = async () => {
    rec.tokens++;
    const r = o.ttl
      ? await fetch("/test/token?user=" + user + "&ttl=" + o.ttl)
      : await fetch("/dev/token", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user }) });
    if (!r.ok) throw new Error("token: HTTP " + r.status);
    return (await r.json()).token;
  };
  const url = o.wsQuery ? WS + "?" + o.wsQuery : WS;
  const auth = o.token ? { token: o.token } : { getToken };
  const h = new Herald({ url, ...auth, backoff: { min: 100, max: 1000 }, ...(o.opts || {}) });
  for (const [ev, key] of [["push", "pushes"], ["duplicate", "dups"], ["state", "states"], ["recovered", "recovered"],
      ["error", "errors"], ["welcome", "welcomes"], ["subscribed", "subscribed"]]) {
    h.on(ev, (d) => rec[key].push(d));
  }
  T[name] = { h, rec };
  return h;
};
window.ready = true;
</script>`
