package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

const (
	ptP256dh = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
	ptAuth   = "AAAAAAAAAAAAAAAAAAAAAA"
)

func registerWebPush(ref, endpoint string) string {
	return fmt.Sprintf(`{"type":"register","ref":%q,"target":{"kind":"webpush","endpoint":%q,"keys":{"p256dh":%q,"auth":%q}}}`,
		ref, endpoint, ptP256dh, ptAuth)
}

// storedTargets reads user's targets from Redis, as the fallback worker will.
func storedTargets(t *testing.T, n *testNode, user string) []streams.DeviceTarget {
	t.Helper()
	list, err := streams.NewPushTargets(n.rdb, streams.NewKeys("herald", 1), time.Hour).List(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// expectRef reads the next frame and checks its type and ref.
func (c *wsClient) expectRef(t *testing.T, typ, ref string) frame {
	t.Helper()
	f := c.next(10 * time.Second)
	if f.str("type") != typ || f.str("ref") != ref {
		t.Fatalf("got %v, want %s with ref %s", f, typ, ref)
	}
	return f
}

// A device registers its Web Push subscription over its WebSocket: stored in
// Redis for the token's user and device, replaced by the next registration of
// the same kind, listed without secrets, and removed by unregister.
func TestPushTargetsOverTheWebSocket(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{})
	c, _, err := dial(t, n, "token="+mint(t, "alice", "phone", time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.expect(t, "welcome", "")
	c.send(t, registerWebPush("r1", "https://push.example/first"))
	c.expectRef(t, "registered", "r1")
	c.send(t, registerWebPush("r2", "https://push.example/second"))
	c.expectRef(t, "registered", "r2")
	c.send(t, `{"type":"register","ref":"r3","target":{"kind":"fcm","token":"fcm-token"}}`)
	c.expectRef(t, "registered", "r3")
	list := storedTargets(t, n, "alice")
	if len(list) != 2 || list[0].Device != "phone" || list[0].Target.Kind != "fcm" ||
		list[1].Target.Endpoint != "https://push.example/second" || list[1].Target.Keys.Auth != ptAuth {
		t.Fatalf("stored %+v", list)
	}
	if ttl := n.rdb.PTTL(context.Background(), "herald:{u:alice}:pt").Val(); ttl < 59*24*time.Hour {
		t.Fatalf("targets expire in %v, want push.target_ttl (60 days)", ttl)
	}

	c.send(t, `{"type":"targets","ref":"r4"}`)
	f := c.expectRef(t, "targets", "r4")
	raw, _ := json.Marshal(f)
	if strings.Contains(string(raw), "push.example") || strings.Contains(string(raw), "fcm-token") {
		t.Fatalf("targets frame shows secrets: %s", raw)
	}
	if got := fmt.Sprint(f["targets"]); !strings.Contains(got, "device:phone kind:fcm") || !strings.Contains(got, "kind:webpush") {
		t.Fatalf("targets frame %s", raw)
	}

	c.send(t, `{"type":"unregister","ref":"r5","kind":"webpush"}`)
	c.expectRef(t, "unregistered", "r5")
	if list := storedTargets(t, n, "alice"); len(list) != 1 || list[0].Target.Kind != "fcm" {
		t.Fatalf("after unregister: %+v", list)
	}
	if v := metricValue(t, n, "herald_push_registrations_total"); v != 3 {
		t.Fatalf("herald_push_registrations_total %v, want 3", v)
	}
}

// Refusals come as error frames with the ref, and the session stays open: a bad
// endpoint, an http:// endpoint (push.webpush.allow_http is off), and a session
// without a device. ?device= names the device of a token without one.
func TestPushTargetRefusals(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{})
	c, _, err := dial(t, n, "token="+mint(t, "bob", "phone", time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.expect(t, "welcome", "")
	for ref, frame := range map[string]string{
		"bad":  registerWebPush("bad", "not a url"),
		"http": registerWebPush("http", "http://127.0.0.1:9/push"),
		"kind": `{"type":"register","ref":"kind","target":{"kind":"sms","token":"1"}}`,
	} {
		c.send(t, frame)
		if e := c.expectRef(t, "error", ref); e.str("code") != wire.CodeBadFrame || !strings.Contains(e.str("reason"), "target") {
			t.Fatalf("%s: %v", ref, e)
		}
	}
	nodev := connect(t, n, "bob", "")
	nodev.send(t, `{"type":"register","ref":"r1","target":{"kind":"fcm","token":"t"}}`)
	if e := nodev.expectRef(t, "error", "r1"); e.str("code") != wire.CodeForbidden || !strings.Contains(e.str("reason"), "device") {
		t.Fatalf("no device: %v", e)
	}
	if list := storedTargets(t, n, "bob"); len(list) != 0 {
		t.Fatalf("stored after refusals: %+v", list)
	}
	tablet := connect(t, n, "bob", "device=tablet")
	tablet.send(t, `{"type":"register","ref":"r2","target":{"kind":"apns","token":"00ff"}}`)
	tablet.expectRef(t, "registered", "r2")
	if list := storedTargets(t, n, "bob"); len(list) != 1 || list[0].Device != "tablet" {
		t.Fatalf("stored %+v, want the tablet's target", list)
	}
}

// push.webpush.allow_http lets a loopback http:// endpoint in (tests).
func TestPushTargetHTTPEndpointAllowed(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{}, "--push.webpush.allow_http")
	c, _, err := dial(t, n, "token="+mint(t, "carol", "laptop", time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.expect(t, "welcome", "")
	c.send(t, registerWebPush("r1", "http://127.0.0.1:9/push"))
	c.expectRef(t, "registered", "r1")
}

// A client looping register frames is refused with rate_limited and then closed
// with 4003; another session on the node registers meanwhile as usual.
func TestPushTargetRegisterLoopIsRateLimited(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{})
	loop, _, err := dial(t, n, "token="+mint(t, "mallory", "phone", time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	loop.expect(t, "welcome", "")
	other, _, err := dial(t, n, "token="+mint(t, "dave", "phone", time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	other.expect(t, "welcome", "")
	for i := 0; i < 200; i++ {
		if loop.conn.WriteString(fmt.Sprintf(`{"type":"register","ref":"l%d","target":{"kind":"fcm","token":"t%d"}}`, i, i)) != nil {
			break // closed for abuse
		}
	}
	if code := loop.closeCode(10 * time.Second); code != wire.ClosePolicy {
		t.Fatalf("looping client closed with %d, want 4003", code)
	}
	limited := 0
	for len(loop.frames) > 0 {
		if f := <-loop.frames; f.str("code") == wire.CodeRateLimited {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("no rate_limited error before the close")
	}
	other.send(t, `{"type":"register","ref":"ok","target":{"kind":"fcm","token":"dave"}}`)
	other.expectRef(t, "registered", "ok")
	if v := metricValue(t, n, "herald_push_registrations_total"); v < 2 {
		t.Fatalf("herald_push_registrations_total %v", v)
	}
}

// A backend registers a device's target with the API key; the device's session
// lists it, and the backend reads it back with the target.
func TestPushTargetsServerAPI(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{}, "--publish.api_key", "backend-key")
	call := func(method, query, body string) (int, string) {
		req, err := http.NewRequest(method, "http://"+n.Addr()+"/v1/push/targets"+query, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer backend-key")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := call("POST", "", `{"user":"erin","device":"phone","target":{"kind":"fcm","token":"from-backend"}}`); code != http.StatusNoContent {
		t.Fatalf("POST %d %s", code, body)
	}
	c, _, err := dial(t, n, "token="+mint(t, "erin", "laptop", time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.expect(t, "welcome", "")
	c.send(t, `{"type":"targets","ref":"t1"}`)
	if f := c.expectRef(t, "targets", "t1"); !strings.Contains(fmt.Sprint(f["targets"]), "device:phone kind:fcm") {
		t.Fatalf("targets %v", f)
	}
	if code, body := call("GET", "?user=erin", ""); code != http.StatusOK || !strings.Contains(body, `"token":"from-backend"`) {
		t.Fatalf("GET %d %s", code, body)
	}
	if code, body := call("DELETE", "?user=erin&kind=fcm", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE %d %s", code, body)
	}
	if list := storedTargets(t, n, "erin"); len(list) != 0 {
		t.Fatalf("after DELETE: %+v", list)
	}
}
