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
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/testkit"
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
			bin, binErr = testkit.BuildHerald(t.TempDir(), false)
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
	t.Run("push_targets", env.testPushTargets)
	t.Run("register_web_push", env.testRegisterWebPush)
	t.Run("service_worker", env.testServiceWorker)
	t.Run("demo_page", env.testDemoPage)
	t.Run("demo_auto", env.testDemoAuto)
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

// xadd publishes the way a service does: XADD herald:in (docs/PROTOCOL.md section 1).
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
	}{{4003, false}, {4009, false}, {4010, false}, {1011, true}, {4008, true}, {1001, true}, {1012, true}} {
		name := "c" + strconv.Itoa(tc.code)
		p.eval(fmt.Sprintf(`mk(%q, %q, {wsQuery: "code=%d&key=%s", opts: {drainDelay: 300}}); T[%q].h.connect().catch(() => {});`,
			name, "fake", tc.code, name, name))
		if tc.retry {
			p.wait(fmt.Sprintf(`T[%q].rec.welcomes.length >= 3`, name), 10*time.Second)
			p.eval(fmt.Sprintf(`T[%q].h.close();`, name))
			p.check(fmt.Sprintf(`
				const ds = T[%q].rec.states.filter(s => s.state === "disconnected");
				if (!ds.every(s => s.code === %d)) return JSON.stringify(ds);
				if (%d === 1001 && !ds.every(s => s.delay <= 300)) return "1001 delays over drainDelay: " + JSON.stringify(ds);
				if (%d === 1012 && !ds.every(s => s.delay === 0)) return "1012 reconnects not at once: " + JSON.stringify(ds);`,
				name, tc.code, tc.code, tc.code))
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
