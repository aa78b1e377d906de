package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/testkit"
)

// A valid Web Push subscription's keys: a P-256 public key and a 16-byte secret.
const (
	subP256dh = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
	subAuth   = "AAAAAAAAAAAAAAAAAAAAAA"
)

// register() with a PushSubscription-like object stores the target in Redis for
// the user and device; a bad target rejects with the node's error and its ref;
// targets() lists without secrets; unregister() removes it; a session without a
// device is refused.
func (e *env) testPushTargets(t *testing.T) {
	p := e.page(t)
	p.eval(`mk("pt", "pia", {opts: {device: "laptop"}}); await T.pt.h.connect();`)
	p.check(`
		const sub = { endpoint: "https://push.example/sub/1", expirationTime: null, options: {},
			toJSON() { return { endpoint: this.endpoint, expirationTime: null, keys: { p256dh: "` + subP256dh + `", auth: "` + subAuth + `" } }; } };
		const r = await T.pt.h.register(sub);
		if (r !== undefined) return "register resolved with " + JSON.stringify(r);
	`)
	ctx := context.Background()
	stored := e.rdb.HGet(ctx, "herald:{u:pia}:pt", "laptop|webpush").Val()
	var v struct {
		Target struct {
			Kind, Endpoint string
			Keys           map[string]string
		}
	}
	if err := json.Unmarshal([]byte(stored), &v); err != nil || v.Target.Kind != "webpush" ||
		v.Target.Endpoint != "https://push.example/sub/1" || v.Target.Keys["p256dh"] != subP256dh {
		t.Fatalf("stored target %q (%v)", stored, err)
	}
	p.check(`
		try {
			await T.pt.h.register({kind: "webpush", endpoint: "https://push.example/x", keys: {p256dh: "AAAA", auth: "AAAA"}});
			return "a bad target was accepted";
		} catch (e) {
			if (e.code !== "bad_frame" || !e.ref || !/p256dh/.test(e.reason)) return "error " + JSON.stringify({code: e.code, ref: e.ref, reason: e.reason});
		}
		try { await T.pt.h.register({kind: "sms"}); return "kind sms accepted"; } catch (e) { if (!(e instanceof TypeError)) return String(e); }
		await T.pt.h.register({kind: "fcm", token: "fcm-token"});
		const list = await T.pt.h.targets();
		if (list.length !== 2 || list[0].device !== "laptop" || list[0].kind !== "fcm" || list[1].kind !== "webpush" ||
			typeof list[0].registered !== "number") return "targets " + JSON.stringify(list);
		if (/push\.example|fcm-token/.test(JSON.stringify(list))) return "targets shows a secret: " + JSON.stringify(list);
		await T.pt.h.unregister("webpush");
		const after = await T.pt.h.targets();
		if (after.length !== 1 || after[0].kind !== "fcm") return "after unregister " + JSON.stringify(after);
	`)
	if e.rdb.HExists(ctx, "herald:{u:pia}:pt", "laptop|webpush").Val() {
		t.Fatal("the webpush target is still in Redis after unregister")
	}
	p.check(`
		mk("nd", "pia"); await T.nd.h.connect();
		try { await T.nd.h.register({kind: "fcm", token: "t"}); return "registered without a device"; }
		catch (e) { if (e.code !== "forbidden" || !/device/.test(e.reason)) return e.code + ": " + e.reason; }
		T.pt.h.close(); T.nd.h.close();
	`)
}

// registerWebPush subscribes through the registration's push manager with
// userVisibleOnly and the VAPID key's bytes, then registers the subscription.
// Headless Chromium has no push service offline, so the push manager is a
// stand-in here; the real one is the browser's.
func (e *env) testRegisterWebPush(t *testing.T) {
	p := e.page(t)
	p.check(`
		mk("wp", "wes", {opts: {device: "browser"}}); await T.wp.h.connect();
		let asked = null;
		const sub = { endpoint: "https://push.example/wes", toJSON() { return { endpoint: this.endpoint, keys: { p256dh: "` + subP256dh + `", auth: "` + subAuth + `" } }; } };
		const reg = { pushManager: { getSubscription: async () => null, subscribe: async (o) => { asked = o; return sub; } } };
		const got = await T.wp.h.registerWebPush(reg, "` + subP256dh + `");
		if (got !== sub) return "resolved with " + JSON.stringify(got);
		if (!asked || asked.userVisibleOnly !== true || !(asked.applicationServerKey instanceof Uint8Array) ||
			asked.applicationServerKey.length !== 65 || asked.applicationServerKey[0] !== 4) return "subscribe options " + JSON.stringify(asked);
		const list = await T.wp.h.targets();
		if (list.length !== 1 || list[0].kind !== "webpush" || list[0].device !== "browser") return "targets " + JSON.stringify(list);
		T.wp.h.close();
	`)
}

// The sample service worker loads and registers from the page's origin; a push
// message carrying Herald's push frame (delivered through the DevTools protocol,
// as a push service would) is shown as a notification titled and worded from the
// chosen fields of data, tagged with the push id, and shown once per id.
func (e *env) testServiceWorker(t *testing.T) {
	p := e.page(t)
	p.check(`
		const r = await fetch("/herald-sw.js");
		if (!r.ok || !/javascript/.test(r.headers.get("content-type"))) return "GET /herald-sw.js: " + r.status;
		const reg = await navigator.serviceWorker.register("/herald-sw.js?title=subject&body=text&open=/test/page");
		await navigator.serviceWorker.ready;
		if (!reg.active) return "no active worker";
	`)
	e.br.call(t, map[string]any{"op": "grant", "origin": e.site.url, "permissions": []string{"notifications"}}, 10*time.Second)
	frame := `{"type":"push","id":"order-7","offset":"1-0","to":"sam","ts":1700000000000,"data":{"subject":"Order 7","text":"shipped"}}`
	for i := 0; i < 2; i++ { // the second is a retry of the same push id
		e.br.call(t, map[string]any{"op": "swpush", "page": p.id, "origin": e.site.url, "data": frame}, 15*time.Second)
	}
	e.br.call(t, map[string]any{"op": "swpush", "page": p.id, "origin": e.site.url, "data": `{"type":"push","id":"plain","offset":"2-0","to":"sam","ts":1,"data":"hello"}`}, 15*time.Second)
	var notes []struct{ Title, Body, Tag string }
	testkit.Eventually(t, 15*time.Second, func() error {
		p.evalInto(`const r = await navigator.serviceWorker.ready;
			return (await r.getNotifications()).map((n) => ({title: n.title, body: n.body, tag: n.tag}));`, &notes)
		if len(notes) < 2 {
			return fmt.Errorf("%d notifications shown", len(notes))
		}
		return nil
	})
	got := ""
	for _, n := range notes {
		got += n.Tag + ":" + n.Title + "/" + n.Body + ";"
	}
	if !strings.Contains(got, "order-7:Order 7/shipped;") || !strings.Contains(got, "plain:New message/hello;") || len(notes) != 2 {
		t.Fatalf("notifications %s", got)
	}
	// Dismissed, then the same push again (a retry after the user closed it): not
	// shown again; a new push is.
	p.eval(`const r = await navigator.serviceWorker.ready; for (const n of await r.getNotifications()) n.close();`)
	e.br.call(t, map[string]any{"op": "swpush", "page": p.id, "origin": e.site.url, "data": frame}, 15*time.Second)
	e.br.call(t, map[string]any{"op": "swpush", "page": p.id, "origin": e.site.url, "data": `{"type":"push","id":"fresh","offset":"3-0","to":"sam","ts":1,"data":{"subject":"New"}}`}, 15*time.Second)
	testkit.Eventually(t, 15*time.Second, func() error {
		p.evalInto(`const r = await navigator.serviceWorker.ready;
			return (await r.getNotifications()).map((n) => ({title: n.title, body: n.body, tag: n.tag}));`, &notes)
		if len(notes) != 1 || notes[0].Tag != "fresh" {
			return fmt.Errorf("notifications %+v, want the fresh one only", notes)
		}
		return nil
	})
}
