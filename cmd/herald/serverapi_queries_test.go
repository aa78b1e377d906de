package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

// Presence of one user and of a batch, cluster-wide session counts and a
// topic's subscribers, asked of n1 about sessions on both nodes.
func TestServerAPIPresenceStatsTopics(t *testing.T) {
	n1, n2 := startAPINodes(t, redistest.Start(t, redistest.Options{}))
	now := time.Now()
	_, w1 := connectToken(t, n1, mintToken(t, "alice", "phone", "", now))
	_, w2 := connectToken(t, n2, mintToken(t, "alice", "laptop", "", now))
	news := connect(t, n2, "bob", "")
	news.subscribe(t, "news")
	carol := connect(t, n1, "carol", "")
	carol.subscribe(t, "news")

	sessions := waitSessions(t, n1, "alice", 2)
	got := map[string]string{}
	for _, s := range sessions {
		m := s.(map[string]any)
		if since, _ := m["since"].(float64); since < float64(now.Add(-time.Minute).UnixMilli()) {
			t.Fatalf("session %v: since is not the unix ms it opened", m)
		}
		got[m["session"].(string)] = m["node"].(string) + "/" + m["device"].(string)
	}
	want := map[string]string{w1.str("session"): "n1/phone", w2.str("session"): "n2/laptop"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sessions %v, want %v", got, want)
	}

	out := mustAPI(t, n2, http.StatusOK, "POST", "/v1/presence", map[string]any{"users": []string{"alice", "bob", "dave"}})
	if b, _ := json.Marshal(out["users"]); string(b) != `{"alice":{"devices":["laptop","phone"],"online":true},"bob":{"devices":[],"online":true},"dave":{"online":false}}` {
		t.Fatalf("batch presence %s", b)
	}
	many := make([]string, 1001)
	for i := range many {
		many[i] = "u" + strconv.Itoa(i)
	}
	mustAPI(t, n1, http.StatusBadRequest, "POST", "/v1/presence", map[string]any{"users": many})

	testkit.Eventually(t, 10*time.Second, func() error {
		out := mustAPI(t, n1, http.StatusOK, "GET", "/v1/stats", nil)
		if b, _ := json.Marshal(out); string(b) != `{"nodes":{"n1":{"sessions":2},"n2":{"sessions":2}},"sessions":4}` {
			return fmt.Errorf("stats %s", b)
		}
		return nil
	})
	testkit.Eventually(t, 5*time.Second, func() error {
		out := mustAPI(t, n1, http.StatusOK, "GET", "/v1/topics/news", nil)
		if out["subscribers"] != 2.0 || out["topic"] != "news" {
			return fmt.Errorf("topic %v", out)
		}
		return nil
	})
	news.close()
	testkit.Eventually(t, 5*time.Second, func() error {
		if out := mustAPI(t, n1, http.StatusOK, "GET", "/v1/topics/news", nil); out["subscribers"] != 1.0 {
			return fmt.Errorf("topic %v after one left", out)
		}
		return nil
	})
}

// subscribe joins topic and waits for the answer.
func (c *wsClient) subscribe(t *testing.T, topic string) {
	t.Helper()
	if err := c.conn.WriteString(`{"type":"subscribe","topic":"` + topic + `"}`); err != nil {
		t.Fatal(err)
	}
	for {
		f := c.next(5 * time.Second)
		if f.str("type") == "subscribed" {
			return
		}
		if f.str("type") == "error" {
			t.Fatalf("subscribe %s: %v", topic, f)
		}
	}
}

// History pages: the newest limit without since, those after since with it,
// complete false once history no longer holds everything after since.
func TestServerAPIHistory(t *testing.T) {
	n1, _ := startAPINodes(t, redistest.Start(t, redistest.Options{}), "--history.size", "5")
	for i := 0; i < 8; i++ {
		xadd(t, n1, "to", "alice", "data", fmt.Sprintf(`{"seq":%d}`, i), "id", "m"+strconv.Itoa(i))
		xadd(t, n1, "topic", "news", "data", fmt.Sprintf(`{"seq":%d}`, i))
	}
	var all []string
	testkit.Eventually(t, 5*time.Second, func() error { // all 8 routed: the last 5 held
		out := mustAPI(t, n1, http.StatusOK, "GET", "/v1/history?user=alice", nil)
		all = historySeqs(t, out, "alice")
		if p, _ := out["pushes"].([]any); len(p) != 5 || p[4].(map[string]any)["id"] != "m7" || out["complete"] != false {
			return fmt.Errorf("history %v", out)
		}
		return nil
	})
	out := mustAPI(t, n1, http.StatusOK, "GET", "/v1/history?user=alice&limit=3", nil)
	if last := historySeqs(t, out, "alice"); len(last) != 3 || last[0] != all[2] || last[2] != all[4] || out["complete"] != false {
		t.Fatalf("the newest 3 %v, of %v", last, all)
	}
	out = mustAPI(t, n1, http.StatusOK, "GET", "/v1/history?user=alice&limit=2&since="+all[0], nil)
	if got := historySeqs(t, out, "alice"); len(got) != 2 || got[0] != all[1] || got[1] != all[2] || out["complete"] != true {
		t.Fatalf("after %s: %v complete %v", all[0], got, out["complete"])
	}
	out = mustAPI(t, n1, http.StatusOK, "GET", "/v1/history?user=alice&since=1-0", nil)
	if got := historySeqs(t, out, "alice"); len(got) != 5 || out["complete"] != false {
		t.Fatalf("after a trimmed offset: %v complete %v, want the 5 held and complete false", got, out["complete"])
	}
	out = mustAPI(t, n1, http.StatusOK, "GET", "/v1/history?topic=news&limit=1", nil)
	if p := out["pushes"].([]any); len(p) != 1 || p[0].(map[string]any)["topic"] != "news" {
		t.Fatalf("topic history %v", out)
	}
	for _, q := range []string{"limit=0", "limit=1001", "since=nope", "user=al%20ice", "topic=news", "colour=red"} {
		path := "/v1/history?" + q + "&user=alice" // with topic=news: both, refused
		mustAPI(t, n1, http.StatusBadRequest, "GET", path, nil)
	}
}

// historySeqs checks the push frames of a history answer and returns their offsets.
func historySeqs(t *testing.T, out map[string]any, user string) []string {
	t.Helper()
	pushes, _ := out["pushes"].([]any)
	var offs []string
	for _, p := range pushes {
		f := p.(map[string]any)
		if f["type"] != "push" || f["to"] != user || f["id"] == nil || f["data"] == nil {
			t.Fatalf("not a push frame of %s: %v", user, f)
		}
		offs = append(offs, f["offset"].(string))
	}
	return offs
}

// The server API on a Redis Cluster: its keys sit on several masters (the
// presence batch and the stats are pipelines split per slot owner, the dead
// letter script keeps its two keys in one slot).
func TestRedisClusterServerAPI(t *testing.T) {
	cl := redistest.StartCluster(t)
	cc := cl.Client(t)
	a := startClusterNode(t, cl, "a", "--publish.api_key", testAPIKey, "--cluster.node_ttl", "3s")
	b := startClusterNode(t, cl, "b", "--publish.api_key", testAPIKey, "--cluster.node_ttl", "3s")
	now := time.Now()
	alice, _ := connectToken(t, b.testNode, mintToken(t, "alice", "phone", "j1", now))
	connect(t, a.testNode, "bob", "")
	waitSessions(t, a.testNode, "alice", 1)
	users := []string{"alice", "bob", "carol", "dave", "erin", "frank"}
	testkit.Eventually(t, 5*time.Second, func() error {
		out := mustAPI(t, a.testNode, http.StatusOK, "POST", "/v1/presence", map[string]any{"users": users})
		if b, _ := json.Marshal(out["users"]); !strings.HasPrefix(string(b), `{"alice":{"devices":["phone"],"online":true},"bob":{"devices":[],"online":true},"carol":{"online":false}`) {
			return fmt.Errorf("batch presence %s", b)
		}
		return nil
	})
	testkit.Eventually(t, 10*time.Second, func() error {
		if out := mustAPI(t, a.testNode, http.StatusOK, "GET", "/v1/stats", nil); out["sessions"] != 2.0 {
			return fmt.Errorf("stats %v", out)
		}
		return nil
	})
	mustAPI(t, a.testNode, http.StatusAccepted, "POST", "/v1/revoke", map[string]any{"jti": "j1"})
	if code := alice.closeCode(5 * time.Second); code != wire.CloseTokenExpired {
		t.Fatalf("closed with %d, want 4001", code)
	}
	refusedWith(t, b.testNode, mintToken(t, "alice", "phone", "j1", now), http.StatusUnauthorized)
	cc.XAdd(context.Background(), &redis.XAddArgs{Stream: "herald:ctl", Values: []any{"op", "nope"}})
	testkit.Eventually(t, 5*time.Second, func() error {
		if n := cc.XLen(context.Background(), "herald:dlq").Val(); n != 1 {
			return fmt.Errorf("%d dead letters", n)
		}
		return nil
	})
}
