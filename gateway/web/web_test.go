package web_test

// Browser tests of herald.js and the demo page: headless Chromium (Debian's
// package) driven by playwright-core from npm, against a real herald process and a
// real redis-server.
//
// The page under test is served by this test (the same web.Handler the node
// mounts, plus a small harness page), and the client connects to the node's /ws on
// another port: the node's origin check is off by default.
//
// Needs: redis-server (as every Redis test), node and npm, and chromium. When
// chromium or npm is missing and the test runs as root, it installs them with
// apt-get; otherwise it fails and says what to install. It never skips, but for
// the topic subtest while the node answers subscribe with not_supported.
//
// Knobs (not HERALD_*: the node reads those as its configuration, and the test
// strips them from the node's environment): WEBTEST_HERALD names a herald binary
// to test instead of building this tree's; WEBTEST_CHROMIUM another browser
// executable; WEBTEST_SCREENSHOT=<path> keeps the demo page's screenshot
// (docs/demo.png is made that way).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/gateway/web"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
)

const testSecret = "web-test-secret-0123456789abcdef"

func TestBrowser(t *testing.T) {
	start := time.Now()
	// The slow parts run side by side: the browser (npm install, Chromium start),
	// the herald binary and Redis.
	var (
		wg     sync.WaitGroup
		bin    string
		binErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if bin = os.Getenv("WEBTEST_HERALD"); bin == "" {
			bin, binErr = buildHerald(t.TempDir())
		}
	}()
	rs := redistest.Start(t, redistest.Options{})
	br := startBrowser(t)
	wg.Wait()
	if binErr != nil {
		t.Fatal(binErr)
	}
	rdb := rs.Client(t)
	node := startNode(t, bin, rs.Addr)
	site := startSite(t, rdb)
	t.Logf("setup took %v (chromium %s)", time.Since(start).Round(time.Millisecond), br.version)

	env := &env{t: t, br: br, rdb: rdb, node: node, site: site}
	t.Run("receive", env.testReceive)
	t.Run("dedupe", env.testDedupe)
	t.Run("ack_device_cursor", env.testAckDeviceCursor)
	t.Run("token_refresh_4001", env.testTokenRefresh)
	t.Run("session_limit_4009", env.testSessionLimit)
	t.Run("close_codes", env.testCloseCodes)
	t.Run("topic_recovery", env.testTopicRecovery)
	t.Run("reconnect_after_node_restart", env.testReconnectAfterRestart)
	t.Run("reconnect_after_drain_1001", env.testReconnectAfterDrain)
	t.Run("demo_page", env.testDemoPage)
}

type env struct {
	t    *testing.T
	br   *browser
	rdb  *redis.Client
	node *heraldProc
	site *site
}

// page opens the harness page: herald.js imported, window.mk(name, user, opts)
// makes a client whose events are recorded in T[name].rec.
func (e *env) page(t *testing.T) *page {
	t.Helper()
	p := e.br.open(t, e.site.url+"/test/page?ws="+e.node.wsURL())
	p.wait("window.ready === true", 10*time.Second)
	return p
}

// xadd publishes the way a service does: XADD herald:in (PROTOCOL.md section 1).
func (e *env) xadd(t *testing.T, fields ...string) string {
	t.Helper()
	vals := make([]any, len(fields))
	for i, f := range fields {
		vals[i] = f
	}
	id, err := e.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: "herald:in", Values: vals}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) testReceive(t *testing.T) {
	p := e.page(t)
	p.eval(`mk("a", "rita"); await T.a.h.connect();`)
	for i := 1; i <= 3; i++ {
		e.xadd(t, "to", "rita", "data", fmt.Sprintf(`{"n":%d}`, i))
	}
	p.wait(`T.a.rec.pushes.length >= 3`, 10*time.Second)
	// A burst arrives in order, once each, whether or not the node coalesced it.
	pipe := e.rdb.Pipeline()
	for i := 4; i <= 200; i++ {
		pipe.XAdd(context.Background(), &redis.XAddArgs{Stream: "herald:in", Values: []any{"to", "rita", "data", fmt.Sprintf(`{"n":%d}`, i), "from", "svc"}})
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.wait(`T.a.rec.pushes.length >= 200`, 15*time.Second)
	p.check(`
		const ps = T.a.rec.pushes;
		if (ps.length !== 200) return "got " + ps.length + " pushes";
		for (let i = 0; i < ps.length; i++) {
			const q = ps[i];
			if (q.data.n !== i + 1) return "push " + i + " has n=" + q.data.n;
			if (q.to !== "rita" || typeof q.ts !== "number" || !q.id) return "bad push " + JSON.stringify(q);
			if (i > 0 && compareOffsets(ps[i-1].offset, q.offset) >= 0) return "offsets out of order at " + i;
		}
		if (ps[150].from !== "svc") return "from missing: " + JSON.stringify(ps[150]);
		if (T.a.h.offset !== ps[199].offset) return "client offset " + T.a.h.offset;
		if (T.a.rec.dups.length) return "duplicates: " + T.a.rec.dups.length;
	`)
	// A replay from the start of history comes coalesced ("\n"-separated frames in
	// one WebSocket message): the client splits it.
	p.eval(`window.multiFrames = 0; mk("b", "rita", {opts: {since: "0-0"}}); await T.b.h.connect();`)
	p.wait(`T.b.rec.recovered.length === 1`, 10*time.Second)
	p.check(`
		const ps = T.b.rec.pushes;
		if (ps.length !== 200) return "replay got " + ps.length;
		if (ps.some((q, i) => q.data.n !== i + 1)) return "replay out of order";
		const r = T.b.rec.recovered[0];
		if (r.to !== "rita" || r.complete !== true) return "recovered " + JSON.stringify(r);
		if (window.multiFrames === 0) return "no coalesced message seen in a 200-push replay";
	`)
	p.eval(`T.a.h.close(); T.b.h.close();`)
	p.check(`if (T.a.h.state !== "closed") return T.a.h.state;`)
}

func (e *env) testDedupe(t *testing.T) {
	p := e.page(t)
	p.eval(`mk("d", "dora"); await T.d.h.connect();`)
	e.xadd(t, "to", "dora", "id", "order-42", "data", `{"n":1}`)
	e.xadd(t, "to", "dora", "id", "order-42", "data", `{"n":1}`)
	e.xadd(t, "to", "dora", "data", `{"n":2}`)
	p.wait(`T.d.rec.pushes.some(q => q.data.n === 2)`, 10*time.Second)
	p.check(`
		const ps = T.d.rec.pushes;
		if (ps.length !== 2) return "pushes: " + JSON.stringify(ps);
		if (ps[0].id !== "order-42") return "first id " + ps[0].id;
		// The node did send the second copy (another offset, same id); the client dropped it.
		const d = T.d.rec.dups;
		if (d.length !== 1 || d[0].id !== "order-42" || d[0].offset === ps[0].offset) return "duplicates: " + JSON.stringify(d);
	`)
	p.eval(`T.d.h.close();`)
}

func (e *env) testAckDeviceCursor(t *testing.T) {
	p := e.page(t)
	// autoAck with a device: the node stores the acked offset as the device's cursor,
	// and a later session of that device (without since) resumes from it.
	p.eval(`mk("x", "xena", {opts: {device: "laptop", autoAck: true}}); await T.x.h.connect();`)
	e.xadd(t, "to", "xena", "data", `{"n":1}`)
	e.xadd(t, "to", "xena", "data", `{"n":2}`)
	p.wait(`T.x.rec.pushes.length === 2`, 10*time.Second)
	var last string
	p.evalInto(`return T.x.rec.pushes[1].offset;`, &last)
	deadline := time.Now().Add(10 * time.Second)
	for {
		cur, _ := e.rdb.HGet(context.Background(), "herald:{u:xena}:c", "laptop").Result()
		if cur == last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("device cursor %q, want %q (the acked offset)", cur, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.eval(`T.x.h.close();`)
	e.xadd(t, "to", "xena", "data", `{"n":3}`)
	p.eval(`mk("y", "xena", {opts: {device: "laptop"}}); await T.y.h.connect();`)
	p.wait(`T.y.rec.pushes.length >= 1 && T.y.rec.recovered.length === 1`, 10*time.Second)
	p.check(`
		if (T.y.rec.pushes.map(q => q.data.n).join() !== "3") return "resumed with " + JSON.stringify(T.y.rec.pushes);
		if (T.y.rec.welcomes[0].offset !== T.x.rec.pushes[1].offset) return "welcome offset " + T.y.rec.welcomes[0].offset;`)
	p.eval(`T.y.h.close();`)
}

func (e *env) testTokenRefresh(t *testing.T) {
	p := e.page(t)
	// Tokens of 3 s (exp is whole seconds: 2 to 3 s): the node closes with 4001 and
	// the client asks getToken for a new one.
	p.eval(`mk("k", "tom", {ttl: 3}); await T.k.h.connect();`)
	// A static token without getToken cannot be renewed: 4001 stops that client.
	p.eval(`
		const r = await fetch("/test/token?user=tess&ttl=3");
		const tok = (await r.json()).token;
		mk("s", "tess", {token: tok}); await T.s.h.connect();`)
	p.wait(`T.k.rec.states.some(s => s.code === 4001) && T.k.h.state === "connected" && T.k.rec.tokens >= 2`, 15*time.Second)
	p.wait(`T.s.h.state === "closed"`, 10*time.Second)
	e.xadd(t, "to", "tom", "data", `{"n":1}`)
	p.wait(`T.k.rec.pushes.length === 1`, 10*time.Second)
	p.check(`
		const st = T.k.rec.states;
		const i = st.findIndex(s => s.code === 4001);
		if (st[i].state !== "disconnected") return "4001 gave " + JSON.stringify(st[i]);
		if (!st.slice(i).some(s => s.state === "connected")) return "no reconnect after 4001";
		if (T.k.rec.welcomes.length < 2) return "welcomes " + T.k.rec.welcomes.length;
		const last = T.s.rec.states[T.s.rec.states.length - 1];
		if (last.state !== "closed" || last.code !== 4001) return "static token client: " + JSON.stringify(T.s.rec.states);
		if (T.s.rec.states.filter(s => s.state === "connecting").length !== 1) return "static token client retried";
	`)
	p.eval(`T.k.h.close();`)
}

func (e *env) testSessionLimit(t *testing.T) {
	// The node runs with limits.max_sessions_per_user=2: a third session is closed
	// with 4009, and the client does not retry.
	p := e.page(t)
	p.eval(`
		mk("l1", "lena"); await T.l1.h.connect();
		mk("l2", "lena"); await T.l2.h.connect();
		mk("l3", "lena"); T.l3.h.connect().catch(e => { T.l3.err = e.code; });`)
	p.wait(`T.l3.h.state === "closed"`, 10*time.Second)
	time.Sleep(1200 * time.Millisecond) // longer than the test backoff: a retry would show
	p.check(`
		const st = T.l3.rec.states;
		const last = st[st.length - 1];
		if (last.code !== 4009) return "closed with " + JSON.stringify(last);
		if (st.filter(s => s.state === "connecting").length !== 1) return "retried: " + JSON.stringify(st);
		if (T.l3.err !== "4009") return "connect() rejected with " + T.l3.err;
		if (T.l1.h.state !== "connected" || T.l2.h.state !== "connected") return "others: " + T.l1.h.state + " " + T.l2.h.state;
	`)
	p.eval(`T.l1.h.close(); T.l2.h.close();`)
}

// testCloseCodes runs the client against a fake node that sends a welcome and
// then closes with a given code, and counts the client's connections.
func (e *env) testCloseCodes(t *testing.T) {
	p := e.br.open(t, e.site.url+"/test/page?ws="+strings.Replace(e.site.url, "http", "ws", 1)+"/test/fake")
	p.wait("window.ready === true", 10*time.Second)
	for _, tc := range []struct {
		code  int
		retry bool
	}{{4003, false}, {4009, false}, {1011, true}, {4008, true}, {1001, true}} {
		name := "c" + strconv.Itoa(tc.code)
		p.eval(fmt.Sprintf(`mk(%q, %q, {wsQuery: "code=%d&key=%s", opts: {drainDelay: 300}}); T[%q].h.connect().catch(() => {});`,
			name, "fake", tc.code, name, name))
		if tc.retry {
			p.wait(fmt.Sprintf(`T[%q].rec.welcomes.length >= 3`, name), 10*time.Second)
			p.eval(fmt.Sprintf(`T[%q].h.close();`, name))
			p.check(fmt.Sprintf(`
				const ds = T[%q].rec.states.filter(s => s.state === "disconnected");
				if (!ds.every(s => s.code === %d)) return JSON.stringify(ds);
				if (%d === 1001 && !ds.every(s => s.delay <= 300)) return "1001 delays over drainDelay: " + JSON.stringify(ds);`,
				name, tc.code, tc.code))
			continue
		}
		p.wait(fmt.Sprintf(`T[%q].h.state === "closed"`, name), 10*time.Second)
		time.Sleep(500 * time.Millisecond)
		if n := e.site.fakeConns(name); n != 1 {
			t.Errorf("close code %d: %d connections, want 1 (no retry)", tc.code, n)
		}
		p.check(fmt.Sprintf(`
			const st = T[%q].rec.states;
			if (st[st.length - 1].code !== %d) return JSON.stringify(st);`, name, tc.code))
	}
}

func (e *env) testTopicRecovery(t *testing.T) {
	p := e.page(t)
	topic := "news-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	p.eval(`mk("t", "tina"); await T.t.h.connect();`)
	var res struct {
		OK     bool   `json:"ok"`
		Code   string `json:"code"`
		Reason string `json:"reason"`
	}
	p.evalInto(fmt.Sprintf(`
		const timeout = new Promise(r => setTimeout(() => r({ok: false, code: "timeout", reason: "no answer to subscribe in 5 s"}), 5000));
		return await Promise.race([
			T.t.h.subscribe(%q).then(() => ({ok: true}), e => ({ok: false, code: e.code, reason: e.reason})),
			timeout]);`, topic), &res)
	if res.Code == "not_supported" {
		t.Skipf("topics not served by this node yet: subscribe was answered %s: %s", res.Code, res.Reason)
	}
	if !res.OK {
		t.Fatalf("subscribe %s: %s: %s", topic, res.Code, res.Reason)
	}
	// Before any push, the subscribed frame's offset is the topic's resume point: a
	// message published while the client is away is not lost.
	p.check(fmt.Sprintf(`if (!/^\d+-\d+$/.test(T.t.h.topics.get(%q))) return "no resume point: " + JSON.stringify([...T.t.h.topics]);`, topic))
	p.eval(`T.t.h.close();`)
	e.xadd(t, "topic", topic, "data", `{"n":1}`)
	p.eval(`await T.t.h.connect();`)
	p.wait(`T.t.rec.pushes.length >= 1`, 10*time.Second)
	e.xadd(t, "topic", topic, "data", `{"n":2}`)
	p.wait(`T.t.rec.pushes.length >= 2`, 10*time.Second)
	// Offline, two more are published; back online, the client resubscribes with
	// the topic's last offset and gets them from history.
	p.eval(`T.t.h.close();`)
	e.xadd(t, "topic", topic, "data", `{"n":3}`)
	e.xadd(t, "topic", topic, "data", `{"n":4}`)
	p.eval(`await T.t.h.connect();`)
	p.wait(`T.t.rec.pushes.length >= 4 && T.t.rec.recovered.filter(r => r.topic !== undefined).length >= 2`, 10*time.Second)
	p.check(fmt.Sprintf(`
		const ps = T.t.rec.pushes;
		if (ps.map(q => q.data.n).join() !== "1,2,3,4") return "topic pushes: " + JSON.stringify(ps);
		if (!ps.every(q => q.topic === %q)) return "topic field: " + JSON.stringify(ps);
		const r = T.t.rec.recovered.find(r => r.topic !== undefined);
		if (r.topic !== %q || r.complete !== true) return "recovered " + JSON.stringify(r);
		if (T.t.h.topics.get(%q) !== ps[3].offset) return "topic offset " + T.t.h.topics.get(%q);`, topic, topic, topic, topic))
	p.eval(`T.t.h.close();`)
}

func (e *env) testReconnectAfterRestart(t *testing.T) {
	p := e.page(t)
	// bob has seen a push before the node dies; carol has not, so she resumes from
	// the offset of her welcome frame.
	p.eval(`mk("b", "bob"); mk("c", "carol"); await T.b.h.connect(); await T.c.h.connect();`)
	e.xadd(t, "to", "bob", "data", `{"n":1}`)
	p.wait(`T.b.rec.pushes.length === 1`, 10*time.Second)

	e.node.kill()
	t.Cleanup(func() { e.node.ensureRunning(t) }) // the next subtests need it, whatever happens here
	p.wait(`T.b.h.state !== "connected" && T.c.h.state !== "connected"`, 10*time.Second)
	for i := 2; i <= 4; i++ {
		e.xadd(t, "to", "bob", "data", fmt.Sprintf(`{"n":%d}`, i))
		e.xadd(t, "to", "carol", "data", fmt.Sprintf(`{"n":%d}`, i))
	}
	time.Sleep(500 * time.Millisecond) // a few failed attempts while the node is down
	e.node.start(t)

	p.wait(`T.b.rec.pushes.length >= 4 && T.c.rec.pushes.length >= 3`, 20*time.Second)
	e.xadd(t, "to", "bob", "data", `{"n":5}`) // and live pushes flow again
	p.wait(`T.b.rec.pushes.length >= 5`, 10*time.Second)
	p.check(`
		const b = T.b.rec.pushes.map(q => q.data.n).join(), c = T.c.rec.pushes.map(q => q.data.n).join();
		if (b !== "1,2,3,4,5") return "bob got " + b;
		if (c !== "2,3,4") return "carol got " + c;
		if (T.b.rec.dups.length || T.c.rec.dups.length) return "duplicates delivered to the app";
		// Both reconnected with ?since: the node answered with a replay and recovered.
		for (const n of ["b", "c"]) {
			const r = T[n].rec.recovered;
			if (!r.length || !r.every(x => x.complete === true)) return n + " recovered: " + JSON.stringify(r);
			if (!T[n].rec.states.some(s => s.state === "disconnected")) return n + " never disconnected";
		}
		const w = T.c.rec.welcomes;
		if (w.length < 2 || w[1].offset !== w[0].offset) return "carol resumed from " + JSON.stringify(w);
	`)
	p.eval(`T.b.h.close(); T.c.h.close();`)
}

func (e *env) testReconnectAfterDrain(t *testing.T) {
	p := e.page(t)
	p.eval(`mk("g", "gina", {opts: {drainDelay: 1500}}); await T.g.h.connect();`)
	e.xadd(t, "to", "gina", "data", `{"n":1}`)
	p.wait(`T.g.rec.pushes.length === 1`, 10*time.Second)
	e.node.terminate(t) // SIGTERM: the node drains, closing sessions with 1001
	t.Cleanup(func() { e.node.ensureRunning(t) })
	p.wait(`T.g.rec.states.some(s => s.code === 1001)`, 10*time.Second)
	e.xadd(t, "to", "gina", "data", `{"n":2}`)
	e.node.start(t)
	p.wait(`T.g.rec.pushes.length >= 2`, 20*time.Second)
	p.check(`
		const s = T.g.rec.states.find(s => s.code === 1001);
		if (s.state !== "disconnected" || !(s.delay >= 0 && s.delay <= 1500)) return "1001 gave " + JSON.stringify(s);
		if (T.g.rec.pushes.map(q => q.data.n).join() !== "1,2") return "got " + JSON.stringify(T.g.rec.pushes);
	`)
	p.eval(`T.g.h.close();`)
}

func (e *env) testDemoPage(t *testing.T) {
	user := "alice"
	p := e.br.open(t, e.site.url+"/?user="+user+"&ws="+e.node.wsURL())
	p.click("#signin")
	p.wait(`document.getElementById("state").textContent === "connected"`, 10*time.Second)
	items := func(n int) string { return fmt.Sprintf(`document.querySelectorAll("#pushes li").length === %d`, n) }

	// Publish from the page (POST /dev/publish) and from a service (XADD).
	p.fill("#publish-data", `{"text": "Hi Alice, this came from the page"}`)
	p.click("#publish")
	p.wait(items(1), 10*time.Second)
	e.xadd(t, "to", user, "id", "order-42", "from", "shop", "data", `{"text":"Your order #42 has shipped","eta":"Tuesday"}`)
	p.wait(items(2), 10*time.Second)

	// A topic, where the node serves topics.
	want := 2
	p.fill("#topic", "news")
	p.click("#subscribe")
	p.wait(`[...document.querySelectorAll("#log li")].some(li => /subscribed to news|subscribe news:/.test(li.textContent))`, 10*time.Second)
	var subscribed bool
	p.evalInto(`return [...document.querySelectorAll("#log li")].some(li => li.textContent.includes("subscribed to news"));`, &subscribed)
	if subscribed {
		e.xadd(t, "topic", "news", "from", "newsroom", "data", `{"headline":"Herald ships a browser client"}`)
		want++
		p.wait(items(want), 10*time.Second)
	} else {
		t.Log("the node does not serve topics yet: the demo page shows the subscribe error")
	}

	// Drop the connection: the client reconnects with since at once.
	p.click("#drop")
	p.wait(`[...document.querySelectorAll("#log li")].filter(li => li.textContent.includes("recovered user alice: complete")).length === 1`, 10*time.Second)

	// Go offline, publish meanwhile (and the order message again, as a retrying
	// publisher would), go online: the message comes from history, the copy is dropped.
	p.click("#offline")
	p.wait(`document.getElementById("state").textContent === "closed"`, 5*time.Second)
	e.xadd(t, "to", user, "from", "bob", "data", `{"text":"Sent while you were offline"}`)
	e.xadd(t, "to", user, "id", "order-42", "from", "shop", "data", `{"text":"Your order #42 has shipped","eta":"Tuesday"}`)
	time.Sleep(300 * time.Millisecond)
	p.click("#offline")
	want++
	p.wait(items(want)+` && document.querySelectorAll("#pushes li.replayed").length === 1 && document.getElementById("dups").textContent === "1"`, 10*time.Second)
	p.wait(`document.getElementById("state").textContent === "connected"`, 5*time.Second)
	p.check(fmt.Sprintf(`
		const items = [...document.querySelectorAll("#pushes li")].map(li => li.textContent);
		if (!items[0].includes("Sent while you were offline") || !items[0].includes("replayed")) return "replayed: " + items[0];
		if (!items[items.length - 2].includes("order #42")) return items[items.length - 2];
		if (!items[items.length - 1].includes("came from the page")) return items[items.length - 1];
		if (document.getElementById("count").textContent !== "%d") return "count";`, want))
	time.Sleep(700 * time.Millisecond) // the arrival highlight fades

	shot := filepath.Join(t.TempDir(), "demo.png")
	p.screenshot(shot)
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10_000 {
		t.Fatalf("screenshot %s: %v (%d bytes)", shot, err, sizeOf(fi))
	}
	if dst := os.Getenv("WEBTEST_SCREENSHOT"); dst != "" {
		b, _ := os.ReadFile(shot)
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("demo screenshot written to %s", dst)
	}
}

func sizeOf(fi os.FileInfo) int64 {
	if fi == nil {
		return 0
	}
	return fi.Size()
}

// ---- the site: web.Handler plus the test's harness page and endpoints ----

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

// ---- the herald process ----

func buildHerald(dir string) (string, error) {
	path := filepath.Join(dir, "herald")
	cmd := exec.Command("go", "build", "-o", path, "github.com/herald-push/herald/cmd/herald")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build herald: %v\n%s", err, out)
	}
	return path, nil
}

type heraldProc struct {
	bin, addr string
	args      []string
	log       *lockedBuffer
	cmd       *exec.Cmd
	done      chan struct{}
}

func startNode(t *testing.T, bin, redisAddr string) *heraldProc {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	n := &heraldProc{bin: bin, addr: addr, log: &lockedBuffer{}}
	n.args = []string{"serve", "--redis.addr", redisAddr, "--auth.hmac_secret", testSecret,
		"--server.addr", addr, "--node.id", "n1", "--streams.block", "200ms",
		"--limits.max_sessions_per_user", "2", "--shutdown.timeout", "5s"}
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("herald log:\n%s", n.log.String())
		}
	})
	n.start(t)
	return n
}

func (n *heraldProc) wsURL() string { return "ws://" + n.addr + "/ws" }

// start runs the node (again, on the same port) and waits for /readyz.
func (n *heraldProc) start(t *testing.T) {
	t.Helper()
	n.cmd = exec.Command(n.bin, n.args...)
	n.cmd.Env = nodeEnv()
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	n.done = done
	go func(c *exec.Cmd) {
		_ = c.Wait()
		close(done)
	}(n.cmd)
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("herald exited at start:\n%s", n.log.String())
		default:
		}
		res, err := http.Get("http://" + n.addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("herald not ready in 20 s (%v):\n%s", err, n.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ensureRunning starts the node when it is not running.
func (n *heraldProc) ensureRunning(t *testing.T) {
	select {
	case <-n.done:
		n.start(t)
	default:
	}
}

// kill is kill -9.
func (n *heraldProc) kill() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

// terminate is SIGTERM: the node drains.
func (n *heraldProc) terminate(t *testing.T) {
	t.Helper()
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(15 * time.Second):
		t.Fatal("herald did not exit within 15 s of SIGTERM")
	}
}

// nodeEnv is this process's environment without HERALD_* variables: the node
// reads its configuration from them and refuses unknown ones.
func nodeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			env = append(env, kv)
		}
	}
	return env
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ---- the browser: testdata/driver.mjs over stdin/stdout ----

type browser struct {
	version string
	stdin   io.WriteCloser
	wmu     sync.Mutex
	seq     atomic.Int64
	mu      sync.Mutex
	pending map[int64]chan reply
	console []string
	dead    chan struct{}
}

type reply struct {
	ID    int64           `json:"id"`
	OK    bool            `json:"ok"`
	Value json.RawMessage `json:"value"`
	Error string          `json:"error"`
	Event string          `json:"event"`
	Page  string          `json:"page"`
	Text  string          `json:"text"`
	Ver   string          `json:"version"`
}

// startBrowser makes sure chromium, node and npm are there, installs playwright-core
// (once per package.json, in the user cache directory) and starts the driver.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	chromium := ensureTools(t)
	dir := installDriver(t)
	cmd := exec.Command("node", filepath.Join(dir, "driver.mjs"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WEBTEST_CHROMIUM="+chromium)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &browser{stdin: stdin, pending: map[int64]chan reply{}, dead: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		defer close(b.dead)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var r reply
			if json.Unmarshal(sc.Bytes(), &r) != nil {
				continue
			}
			switch r.Event {
			case "ready":
				ready <- r.Ver
			case "console":
				b.mu.Lock()
				b.console = append(b.console, r.Page+" "+r.Text)
				b.mu.Unlock()
			case "":
				b.mu.Lock()
				ch := b.pending[r.ID]
				delete(b.pending, r.ID)
				b.mu.Unlock()
				if ch != nil {
					ch <- r
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-b.dead:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
		if t.Failed() {
			b.mu.Lock()
			t.Logf("browser console:\n%s", strings.Join(b.console, "\n"))
			b.mu.Unlock()
		}
	})
	select {
	case b.version = <-ready:
	case <-b.dead:
		t.Fatalf("the browser driver stopped at start (chromium %s):\n%s", chromium, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("the browser driver did not start in 60 s:\n%s", stderr.String())
	}
	return b
}

// ensureTools finds chromium, node and npm, installing them with apt-get when the
// test runs as root; it returns the chromium executable.
func ensureTools(t *testing.T) string {
	t.Helper()
	chromium := os.Getenv("WEBTEST_CHROMIUM")
	find := func() string {
		if chromium != "" {
			return chromium
		}
		for _, name := range []string{"chromium", "chromium-browser"} {
			if p, err := exec.LookPath(name); err == nil {
				return p
			}
		}
		return ""
	}
	var missing []string
	if find() == "" {
		missing = append(missing, "chromium")
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return find()
	}
	_, aptErr := exec.LookPath("apt-get")
	if os.Geteuid() != 0 || aptErr != nil {
		t.Fatalf("the browser tests need %s: install Debian's packages (apt-get install chromium nodejs npm), "+
			"or set WEBTEST_CHROMIUM to a Chromium executable; this test never skips", strings.Join(missing, ", "))
	}
	pkgs := []string{}
	for _, m := range missing {
		switch m {
		case "node":
			pkgs = append(pkgs, "nodejs")
		default:
			pkgs = append(pkgs, m)
		}
	}
	t.Logf("installing %s with apt-get", strings.Join(pkgs, " "))
	for _, args := range [][]string{{"update"}, append([]string{"install", "-y", "--no-install-recommends"}, pkgs...)} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("apt-get %s: %v\n%s", strings.Join(args, " "), err, tail(out))
		}
	}
	if find() == "" {
		t.Fatal("apt-get installed chromium, but no chromium executable is on PATH")
	}
	return find()
}

// installDriver puts testdata's package.json, lock and driver.mjs in a cache
// directory named by their hash, and runs npm install there when playwright-core
// is not installed yet. The install goes to a temporary directory renamed into
// place, so that concurrent test runs do not see a half-installed one.
func installDriver(t *testing.T) string {
	t.Helper()
	var files = map[string][]byte{}
	h := sha256.New()
	for _, name := range []string{"package.json", "package-lock.json", "driver.mjs"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
		if name != "driver.mjs" {
			h.Write(b)
		}
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "herald-web-tests", hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err != nil {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			t.Fatal(err)
		}
		tmp, err := os.MkdirTemp(filepath.Dir(dir), "install-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		for _, name := range []string{"package.json", "package-lock.json"} {
			if err := os.WriteFile(filepath.Join(tmp, name), files[name], 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund")
		cmd.Dir = tmp
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm install playwright-core in %s: %v\n%s", tmp, err, tail(out))
		}
		if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) {
			if _, statErr := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); statErr != nil {
				t.Fatalf("install playwright-core: %v", err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "driver.mjs"), files["driver.mjs"], 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (b *browser) call(t *testing.T, req map[string]any, timeout time.Duration) json.RawMessage {
	t.Helper()
	id := b.seq.Add(1)
	req["id"] = id
	ch := make(chan reply, 1)
	b.mu.Lock()
	b.pending[id] = ch
	b.mu.Unlock()
	line, _ := json.Marshal(req)
	b.wmu.Lock()
	_, err := b.stdin.Write(append(line, '\n'))
	b.wmu.Unlock()
	if err != nil {
		t.Fatalf("browser driver: %v", err)
	}
	select {
	case r := <-ch:
		if !r.OK {
			t.Fatalf("browser %s: %s", req["op"], r.Error)
		}
		return r.Value
	case <-b.dead:
		t.Fatalf("the browser driver stopped during %s", req["op"])
	case <-time.After(timeout):
		t.Fatalf("browser %s: no answer in %v", req["op"], timeout)
	}
	return nil
}

type page struct {
	t  *testing.T
	b  *browser
	id string
}

func (b *browser) open(t *testing.T, url string) *page {
	t.Helper()
	var id string
	if err := json.Unmarshal(b.call(t, map[string]any{"op": "open", "url": url}, 30*time.Second), &id); err != nil {
		t.Fatal(err)
	}
	p := &page{t: t, b: b, id: id}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("page state: %s", p.state())
		}
		p.b.call(t, map[string]any{"op": "close", "page": p.id}, 10*time.Second)
	})
	return p
}

// eval runs js as the body of an async function in the page.
func (p *page) eval(js string) json.RawMessage {
	p.t.Helper()
	return p.b.call(p.t, map[string]any{"op": "eval", "page": p.id, "js": js}, 30*time.Second)
}

func (p *page) evalInto(js string, v any) {
	p.t.Helper()
	if err := json.Unmarshal(p.eval(js), v); err != nil {
		p.t.Fatal(err)
	}
}

// check runs js, which returns nothing when all is well and a description of the
// problem otherwise.
func (p *page) check(js string) {
	p.t.Helper()
	var problem *string
	p.evalInto(js, &problem)
	if problem != nil {
		p.t.Fatalf("in the page: %s", *problem)
	}
}

// wait waits until the JavaScript expression cond is truthy.
func (p *page) wait(cond string, timeout time.Duration) {
	p.t.Helper()
	id := p.b.seq.Add(1)
	ch := make(chan reply, 1)
	p.b.mu.Lock()
	p.b.pending[id] = ch
	p.b.mu.Unlock()
	line, _ := json.Marshal(map[string]any{"id": id, "op": "wait", "page": p.id, "js": cond, "timeout": timeout.Milliseconds()})
	p.b.wmu.Lock()
	_, _ = p.b.stdin.Write(append(line, '\n'))
	p.b.wmu.Unlock()
	select {
	case r := <-ch:
		if !r.OK {
			p.t.Fatalf("not within %v: %s\n(%s)", timeout, cond, r.Error)
		}
	case <-p.b.dead:
		p.t.Fatal("the browser driver stopped")
	case <-time.After(timeout + 10*time.Second):
		p.t.Fatalf("no answer from the browser while waiting for %s", cond)
	}
}

func (p *page) click(sel string) {
	p.t.Helper()
	p.b.call(p.t, map[string]any{"op": "click", "page": p.id, "selector": sel}, 15*time.Second)
}

func (p *page) fill(sel, value string) {
	p.t.Helper()
	p.b.call(p.t, map[string]any{"op": "fill", "page": p.id, "selector": sel, "value": value}, 15*time.Second)
}

func (p *page) screenshot(path string) {
	p.t.Helper()
	p.b.call(p.t, map[string]any{"op": "screenshot", "page": p.id, "path": path}, 30*time.Second)
}

// state describes the clients of a harness page, for failure messages.
func (p *page) state() string {
	id := p.b.seq.Add(1)
	ch := make(chan reply, 1)
	p.b.mu.Lock()
	p.b.pending[id] = ch
	p.b.mu.Unlock()
	js := `(async () => { if (!window.T) return document.body.innerText.slice(0, 3000);
		const out = {}; for (const [k, v] of Object.entries(T)) out[k] = {state: v.h.state, offset: v.h.offset, ...v.rec,
		pushes: v.rec.pushes.length > 20 ? v.rec.pushes.length + " pushes" : v.rec.pushes};
		return JSON.stringify(out); })()`
	line, _ := json.Marshal(map[string]any{"id": id, "op": "eval", "page": p.id, "js": "return " + js})
	p.b.wmu.Lock()
	_, _ = p.b.stdin.Write(append(line, '\n'))
	p.b.wmu.Unlock()
	select {
	case r := <-ch:
		if r.OK {
			return string(r.Value)
		}
		return r.Error
	case <-time.After(5 * time.Second):
		return "(no answer)"
	}
}
