package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/herald-push/herald/streams"
)

const testAPIKey = "publish-key-0123456789"

// publishServer runs a gateway with /v1/publish on, a 1 KiB payload limit, and pub
// behind it.
func publishServer(t *testing.T, pub *fakePublisher) *testServer {
	t.Helper()
	cfg := testConfig()
	cfg.PublishAPIKey = testAPIKey
	cfg.MaxPayloadBytes = 1024
	return startServer(t, cfg, Deps{Publisher: pub})
}

func publish(t *testing.T, s *testServer, auth, body string) answer {
	t.Helper()
	hdr := http.Header{"Content-Type": {"application/json"}}
	if auth != "" {
		hdr.Set("Authorization", auth)
	}
	return request(t, "POST", s.url("/v1/publish"), hdr, body)
}

// Without publish.api_key the endpoint is off: 404, and a JSON reason naming the
// setting.
func TestPublishOffWithoutAPIKey(t *testing.T) {
	pub := &fakePublisher{}
	s := startServer(t, testConfig(), Deps{Publisher: pub})
	wantJSONRefusal(t, publish(t, s, "Bearer anything", `{"to":"alice","data":1}`), 404, "publish.api_key")
	if len(pub.calls()) != 0 {
		t.Fatal("published with the endpoint off")
	}
}

// Only POST: 405 with Allow.
func TestPublishOnlyPost(t *testing.T) {
	s := publishServer(t, &fakePublisher{})
	a := request(t, "GET", s.url("/v1/publish"), http.Header{"Authorization": {"Bearer " + testAPIKey}}, "")
	wantJSONRefusal(t, a, 405, "use POST")
	if allow := a.header.Get("Allow"); allow != "POST" {
		t.Errorf("Allow %q, want POST", allow)
	}
}

// A missing or wrong API key gets 401 and publishes nothing.
func TestPublishNeedsTheAPIKey(t *testing.T) {
	pub := &fakePublisher{result: func(streams.Publication) (string, error) { return "1-0", nil }}
	s := publishServer(t, pub)
	for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer wrong-key", "Basic " + testAPIKey, "Bearer " + testAPIKey + "x", testAPIKey} {
		wantJSONRefusal(t, publish(t, s, auth, `{"to":"alice","data":1}`), 401, "API key")
	}
	if n := len(pub.calls()); n != 0 {
		t.Fatalf("%d publications without the right key", n)
	}
}

// The scheme is case-insensitive, as HTTP says and as /ws takes it.
func TestPublishBearerSchemeAnyCase(t *testing.T) {
	pub := &fakePublisher{result: func(streams.Publication) (string, error) { return "1-0", nil }}
	s := publishServer(t, pub)
	for _, auth := range []string{"Bearer " + testAPIKey, "bearer " + testAPIKey, "BEARER  " + testAPIKey + " "} {
		if a := publish(t, s, auth, `{"to":"alice","data":1}`); a.status != http.StatusAccepted {
			t.Errorf("Authorization %q: status %d, want 202", auth, a.status)
		}
	}
}

// A body that is not one publish object gets 400 with the reason, and nothing is
// written.
func TestPublishBadBodies(t *testing.T) {
	pub := &fakePublisher{result: func(streams.Publication) (string, error) { return "1-0", nil }}
	s := publishServer(t, pub)
	tests := []struct{ body, reason string }{
		{`not json`, "not a publish object"},
		{`["to","alice"]`, "not a publish object"},
		{`{"to":"alice","data":1,"priority":"high"}`, "unknown field"},
		{`{"to":"alice","data":1} {"to":"bob","data":2}`, "more than one JSON value"},
		{`{"to":"alice"}`, "missing data"},
		{`{"to":"alice","data":1,"ttl":-5}`, "bad ttl"},
		{`{"to":"alice","data":1,"ttl":"soon"}`, "not a publish object"},
	}
	for _, tt := range tests {
		wantJSONRefusal(t, publish(t, s, "Bearer "+testAPIKey, tt.body), 400, tt.reason)
	}
	if n := len(pub.calls()); n != 0 {
		t.Fatalf("%d publications from bad bodies", n)
	}
}

// A body over limits.max_payload_bytes + 4 KiB is cut off with 413.
func TestPublishBodyTooLarge(t *testing.T) {
	pub := &fakePublisher{result: func(streams.Publication) (string, error) { return "1-0", nil }}
	s := publishServer(t, pub)
	body := `{"to":"alice","data":"` + strings.Repeat("x", 1024+4096) + `"}`
	wantJSONRefusal(t, publish(t, s, "Bearer "+testAPIKey, body), 413, "body over 5120 bytes")
	if n := len(pub.calls()); n != 0 {
		t.Fatalf("%d publications of a body too large", n)
	}
}

// What the publisher refuses as the client's fault (a bad name, both to and
// topic, a payload over the limit) is a 400 with its reason.
func TestPublishRejectedByThePublisher(t *testing.T) {
	pub := &fakePublisher{result: func(streams.Publication) (string, error) {
		return "", fmt.Errorf("publish: %w", streams.Rejection("payload too large"))
	}}
	s := publishServer(t, pub)
	wantJSONRefusal(t, publish(t, s, "Bearer "+testAPIKey, `{"to":"alice","data":1}`), 400, "payload too large")
}

// Redis away, or replicas not confirming in time (redis.wait_replicas): 503, and
// the client is told to retry; Redis's own error text stays in the node.
func TestPublishNotAccepted(t *testing.T) {
	tests := []struct {
		err    error
		reason string
	}{
		{fmt.Errorf("router: %w", streams.ErrNotReplicated), "redis.wait_replicas"},
		{errors.New("dial tcp 10.0.0.7:6379: connect: connection refused"), "redis unavailable; nothing was written, retry later"},
	}
	for _, tt := range tests {
		pub := &fakePublisher{result: func(streams.Publication) (string, error) { return "", tt.err }}
		s := publishServer(t, pub)
		a := publish(t, s, "Bearer "+testAPIKey, `{"to":"alice","data":1}`)
		wantJSONRefusal(t, a, 503, tt.reason)
		if strings.Contains(a.body, "10.0.0.7") {
			t.Errorf("the answer leaks Redis's address: %s", a.body)
		}
	}
}

// An accepted publish is 202 with the entry id, and the publisher got every field.
func TestPublishAccepted(t *testing.T) {
	pub := &fakePublisher{result: func(streams.Publication) (string, error) { return "1700000000000-3", nil }}
	s := publishServer(t, pub)
	a := publish(t, s, "Bearer "+testAPIKey, `{"to":"alice","data":{"text":"hi"},"id":"order-42","from":"shop","ttl":60}`)
	if a.status != http.StatusAccepted || strings.TrimSpace(a.body) != `{"id":"1700000000000-3"}` {
		t.Fatalf("HTTP %d %s, want 202 with the id", a.status, a.body)
	}
	a = publish(t, s, "Bearer "+testAPIKey, `{"topic":"news","data":[1,2]}`)
	if a.status != http.StatusAccepted {
		t.Fatalf("topic publish: HTTP %d %s", a.status, a.body)
	}
	got := pub.calls()
	want := []streams.Publication{
		{To: "alice", Data: []byte(`{"text":"hi"}`), ID: "order-42", From: "shop", TTL: 60},
		{Topic: "news", Data: []byte(`[1,2]`)},
	}
	if len(got) != 2 {
		t.Fatalf("%d publications, want 2", len(got))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.To != w.To || g.Topic != w.Topic || string(g.Data) != string(w.Data) || g.ID != w.ID || g.From != w.From || g.TTL != w.TTL {
			t.Errorf("publication %d: %+v, want %+v", i, g, w)
		}
	}
}

// With PublishLoopbackOnly (the embedded mode's dev key) the key works from this
// machine only: any other address gets 403 before the key is looked at.
func TestPublishLoopbackOnly(t *testing.T) {
	pub := &fakePublisher{result: func(streams.Publication) (string, error) { return "1-0", nil }}
	cfg := testConfig()
	cfg.PublishAPIKey, cfg.PublishLoopbackOnly = testAPIKey, true
	s := New(cfg, Deps{Publisher: pub, Log: quietLog()})
	for _, tt := range []struct {
		remote string
		status int
	}{
		{"127.0.0.1:5000", 202}, {"[::1]:5000", 202}, {"192.0.2.7:5000", 403}, {"[2001:db8::1]:5000", 403}, {"bogus", 403},
	} {
		req := httptest.NewRequest(http.MethodPost, "/v1/publish", strings.NewReader(`{"to":"alice","data":1}`))
		req.RemoteAddr = tt.remote
		req.Header.Set("Authorization", "Bearer "+testAPIKey)
		rec := httptest.NewRecorder()
		s.servePublish(rec, req)
		if rec.Code != tt.status {
			t.Errorf("from %s: %d %s, want %d", tt.remote, rec.Code, rec.Body, tt.status)
		}
		if tt.status == 403 && !strings.Contains(rec.Body.String(), "publish.api_key") {
			t.Errorf("from %s: reason %s, want it to name publish.api_key", tt.remote, rec.Body)
		}
	}
	if n := len(pub.calls()); n != 2 {
		t.Fatalf("%d publications, want the 2 from loopback", n)
	}
}
