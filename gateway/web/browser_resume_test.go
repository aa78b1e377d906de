package web_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

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

	e.demoResume(t, p, user, want)
	demoScreenshot(t, p)
}

// demoResume drops the demo page's connection (it resumes with since), then takes
// the page offline while two messages are published, one a copy of an earlier one:
// history fills the gap, and the page drops the copy.
func (e *env) demoResume(t *testing.T, p *page, user string, want int) {
	items := func(n int) string { return fmt.Sprintf(`document.querySelectorAll("#pushes li").length === %d`, n) }
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
}

// demoScreenshot takes the demo page's picture (docs/demo.png comes from here).
func demoScreenshot(t *testing.T, p *page) {
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
