package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

const (
	testP256dh = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
	testAuth   = "AAAAAAAAAAAAAAAAAAAAAA"
)

// targetsServer runs a gateway with the API key and the push target store on a
// real redis-server.
func targetsServer(t *testing.T, allowHTTP bool) (*testServer, *streams.PushTargets) {
	t.Helper()
	rs := redistest.Start(t, redistest.Options{})
	store := streams.NewPushTargets(rs.Client(t), streams.NewKeys("herald", 1), time.Hour)
	cfg := testConfig()
	cfg.PublishAPIKey = testAPIKey
	cfg.AllowHTTPPush = allowHTTP
	return startServer(t, cfg, Deps{PushTargets: store}), store
}

func targetsCall(t *testing.T, s *testServer, method, query, body string) answer {
	t.Helper()
	hdr := http.Header{"Authorization": {"Bearer " + testAPIKey}, "Content-Type": {"application/json"}}
	return request(t, method, s.url("/v1/push/targets"+query), hdr, body)
}

func webpushBody(user, device, endpoint string) string {
	return `{"user":"` + user + `","device":"` + device + `","target":{"kind":"webpush","endpoint":"` + endpoint +
		`","keys":{"p256dh":"` + testP256dh + `","auth":"` + testAuth + `"}}}`
}

// listed is the GET answer.
type listed struct {
	User    string                  `json:"user"`
	Targets []wire.RegisteredTarget `json:"targets"`
}

func listTargets(t *testing.T, s *testServer, user string) listed {
	t.Helper()
	a := targetsCall(t, s, "GET", "?user="+user, "")
	if a.status != http.StatusOK {
		t.Fatalf("GET: %d %s", a.status, a.body)
	}
	var l listed
	if err := json.Unmarshal([]byte(a.body), &l); err != nil {
		t.Fatalf("GET body %s: %v", a.body, err)
	}
	return l
}

// A backend registers targets for its users' devices (204), lists them with the
// targets themselves, and removes all, one device's or one kind's (204).
func TestPushTargetsAPI(t *testing.T) {
	s, _ := targetsServer(t, false)
	for _, body := range []string{
		webpushBody("alice", "laptop", "https://push.example/1"),
		`{"user":"alice","device":"phone","target":{"kind":"fcm","token":"tok-1"}}`,
		`{"user":"alice","device":"phone","target":{"kind":"apns","token":"0a0b"}}`,
		`{"user":"alice","device":"phone","target":{"kind":"fcm","token":"tok-2"}}`, // replaces tok-1
		`{"user":"bob","device":"phone","target":{"kind":"fcm","token":"tok-b"}}`,
	} {
		if a := targetsCall(t, s, "POST", "", body); a.status != http.StatusNoContent {
			t.Fatalf("POST %s: %d %s", body, a.status, a.body)
		}
	}
	l := listTargets(t, s, "alice")
	var got []string
	for _, rt := range l.Targets {
		if rt.Target == nil || rt.Registered < time.Now().Add(-time.Minute).UnixMilli() {
			t.Fatalf("target %+v lacks the target or its time", rt)
		}
		got = append(got, rt.Device+" "+rt.Kind+" "+rt.Target.Token+rt.Target.Endpoint)
	}
	if l.User != "alice" || strings.Join(got, ",") != "laptop webpush https://push.example/1,phone apns 0a0b,phone fcm tok-2" {
		t.Fatalf("GET alice: %+v", got)
	}
	if v := value(t, s.metrics.APIRegistrations.WithLabelValues("fcm", "registered")); v != 3 {
		t.Fatalf("fcm registrations %v", v)
	}

	if a := targetsCall(t, s, "DELETE", "?user=alice&device=phone&kind=fcm", ""); a.status != http.StatusNoContent {
		t.Fatalf("DELETE kind: %d %s", a.status, a.body)
	}
	if l := listTargets(t, s, "alice"); len(l.Targets) != 2 {
		t.Fatalf("after deleting phone's fcm: %+v", l.Targets)
	}
	if a := targetsCall(t, s, "DELETE", "?user=alice&device=phone", ""); a.status != http.StatusNoContent {
		t.Fatalf("DELETE device: %d %s", a.status, a.body)
	}
	if l := listTargets(t, s, "alice"); len(l.Targets) != 1 || l.Targets[0].Device != "laptop" {
		t.Fatalf("after deleting phone: %+v", l.Targets)
	}
	if a := targetsCall(t, s, "DELETE", "?user=alice", ""); a.status != http.StatusNoContent {
		t.Fatalf("DELETE all: %d %s", a.status, a.body)
	}
	if l := listTargets(t, s, "alice"); l.Targets == nil || len(l.Targets) != 0 {
		t.Fatalf("after deleting all: %+v (want [], not null)", l.Targets)
	}
	if l := listTargets(t, s, "bob"); len(l.Targets) != 1 {
		t.Fatalf("bob's target went with alice's: %+v", l.Targets)
	}
}

// Bad input gets 400 with a JSON reason, and nothing is stored.
func TestPushTargetsAPIBadInput(t *testing.T) {
	s, store := targetsServer(t, false)
	for _, c := range []struct{ method, query, body, reason string }{
		{"POST", "", `not json`, "not a target object"},
		{"POST", "", `{"user":"alice","device":"phone","target":{"kind":"fcm","token":"t"},"extra":1}`, "unknown field"},
		{"POST", "", `{"user":"alice","device":"phone","target":{"kind":"fcm","token":"t","extra":1}}`, "unknown field"},
		{"POST", "", `{"user":"alice","device":"phone","target":{"kind":"fcm","token":"t"}} {}`, "more than one"},
		{"POST", "", `{"device":"phone","target":{"kind":"fcm","token":"t"}}`, "bad user"},
		{"POST", "", `{"user":"alice","target":{"kind":"fcm","token":"t"}}`, "bad device"},
		{"POST", "", `{"user":"alice","device":"a|b","target":{"kind":"fcm","token":"t"}}`, "bad device"},
		{"POST", "", `{"user":"alice","device":"phone"}`, "missing target"},
		{"POST", "", `{"user":"alice","device":"phone","target":{"kind":"sms","token":"t"}}`, "unknown target kind"},
		{"POST", "", webpushBody("alice", "phone", "http://127.0.0.1:9/x"), "https endpoint"},
		{"POST", "", `{"user":"alice","device":"phone","target":{"kind":"apns","token":"` + strings.Repeat("ab", 2049) + `"}}`, "bad target"},
		{"GET", "", "", "bad user"},
		{"GET", "?user=alice&device=phone", "", "unknown parameter"},
		{"GET", "?user=a%20b", "", "bad user"},
		{"DELETE", "", "", "bad user"},
		{"DELETE", "?user=alice&kind=sms", "", "bad kind"},
		{"DELETE", "?user=alice&device=a%7Cb", "", "bad device"},
		{"DELETE", "?user=alice&limit=1", "", "unknown parameter"},
	} {
		a := targetsCall(t, s, c.method, c.query, c.body)
		if a.status != http.StatusBadRequest || !strings.Contains(a.reason(), c.reason) {
			t.Errorf("%s %s %.60s: %d %s, want 400 saying %q", c.method, c.query, c.body, a.status, a.body, c.reason)
		}
	}
	big := `{"user":"alice","device":"phone","target":{"kind":"apns","token":"` + strings.Repeat("ab", 10000) + `"}}`
	wantJSONRefusal(t, targetsCall(t, s, "POST", "", big), http.StatusRequestEntityTooLarge, "body over")
	if got, _ := store.List(context.Background(), "alice"); len(got) != 0 {
		t.Fatalf("stored from bad input: %+v", got)
	}
	if v := value(t, s.metrics.APIRegistrations.WithLabelValues("webpush", "bad_target")); v != 1 {
		t.Fatalf("webpush bad_target %v", v)
	}
}

// push.webpush.allow_http lets http:// endpoints in (tests on loopback).
func TestPushTargetsAPIAllowHTTP(t *testing.T) {
	s, _ := targetsServer(t, true)
	if a := targetsCall(t, s, "POST", "", webpushBody("alice", "phone", "http://127.0.0.1:9/x")); a.status != http.StatusNoContent {
		t.Fatalf("POST http endpoint with allow_http: %d %s", a.status, a.body)
	}
}

// The key of /v1/publish is required (401), other methods get 405, and without
// publish.api_key the API is off (404).
func TestPushTargetsAPINeedsTheKey(t *testing.T) {
	s, store := targetsServer(t, false)
	body := `{"user":"alice","device":"phone","target":{"kind":"fcm","token":"t"}}`
	for _, auth := range []string{"", "Bearer wrong", "Basic " + testAPIKey} {
		hdr := http.Header{}
		if auth != "" {
			hdr.Set("Authorization", auth)
		}
		for _, m := range []string{"POST", "GET", "DELETE"} {
			wantJSONRefusal(t, request(t, m, s.url("/v1/push/targets?user=alice"), hdr, body), 401, "API key")
		}
	}
	if got, _ := store.List(context.Background(), "alice"); len(got) != 0 {
		t.Fatalf("stored without the key: %+v", got)
	}
	a := targetsCall(t, s, "PUT", "", body)
	wantJSONRefusal(t, a, 405, "use GET or POST or DELETE")
	if allow := a.header.Get("Allow"); allow != "GET, POST, DELETE" {
		t.Errorf("Allow %q", allow)
	}
	off := startServer(t, testConfig(), Deps{PushTargets: store})
	wantJSONRefusal(t, request(t, "GET", off.url("/v1/push/targets?user=alice"), bearer(testAPIKey), ""), 404, "publish.api_key")
}

// Redis away: 503 with a JSON reason.
func TestPushTargetsAPIRedisAway(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{})
	store := streams.NewPushTargets(rs.Client(t), streams.NewKeys("herald", 1), time.Hour)
	cfg := testConfig()
	cfg.PublishAPIKey = testAPIKey
	s := startServer(t, cfg, Deps{PushTargets: store})
	rs.Stop()
	wantJSONRefusal(t, targetsCall(t, s, "POST", "", `{"user":"alice","device":"phone","target":{"kind":"fcm","token":"t"}}`), 503, "retry")
	wantJSONRefusal(t, targetsCall(t, s, "GET", "?user=alice", ""), 503, "retry")
	wantJSONRefusal(t, targetsCall(t, s, "DELETE", "?user=alice", ""), 503, "retry")
	if v := value(t, s.metrics.APIRegistrations.WithLabelValues("fcm", "unavailable")); v != 1 {
		t.Fatalf("fcm unavailable %v", v)
	}
}
