package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/gateway/push/pushtest"
	"github.com/herald-push/herald/wire"
)

func newWebPushPair(t *testing.T) (*WebPush, *pushtest.WebPushServer) {
	t.Helper()
	pub, priv := pushtest.NewVAPIDKeys(t)
	srv := pushtest.NewWebPushServer(t, pub)
	wp, err := NewWebPush(WebPushConfig{VAPIDPublicKey: pub, VAPIDPrivateKey: priv,
		Subject: "mailto:ops@example.com", AllowHTTP: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return wp, srv
}

func frame(id, data string) []byte {
	return []byte(`{"type":"push","id":"` + id + `","offset":"` + id + `","to":"u1","ts":1,"data":` + data + `}`)
}

func TestWebPushDeliversAnEncryptedSignedMessage(t *testing.T) {
	wp, srv := newWebPushPair(t)
	sub := srv.NewSubscription(t)
	n := Notification{ID: "1-0", Payload: frame("1-0", `{"text":"hi"}`), CollapseKey: "chat:42/room#1", TTL: 90 * time.Second}
	if err := wp.Send(context.Background(), sub, n); err != nil {
		t.Fatal(err)
	}
	got := srv.Received()
	if len(got) != 1 {
		t.Fatalf("received %d messages", len(got))
	}
	m := got[0]
	if string(m.Body) != string(n.Payload) || m.TTL != "90" || m.Urgency != "high" || m.Target.Endpoint != sub.Endpoint {
		t.Fatalf("received %+v, body %s", m, m.Body)
	}
	if m.Topic != webPushTopic(n.CollapseKey) || len(m.Topic) != 32 {
		t.Fatalf("topic %q", m.Topic)
	}
}

func TestWebPushTopicKeepsAValidKeyAndHashesOthers(t *testing.T) {
	if got := webPushTopic("room-1_a"); got != "room-1_a" {
		t.Fatalf("valid key changed to %q", got)
	}
	long := strings.Repeat("a", 33)
	if got := webPushTopic(long); got == long || len(got) != 32 || got != webPushTopic(long) {
		t.Fatalf("topic of a long key: %q", got)
	}
}

func TestWebPushGoneSubscription(t *testing.T) {
	wp, srv := newWebPushPair(t)
	sub := srv.NewSubscription(t)
	srv.Gone(sub.Endpoint)
	err := wp.Send(context.Background(), sub, Notification{Payload: frame("1-0", "1")})
	if !errors.Is(err, ErrGone) {
		t.Fatalf("410: %v, want ErrGone", err)
	}
	unknown := sub
	unknown.Endpoint = srv.URL + "/push/unknown"
	if err := wp.Send(context.Background(), unknown, Notification{Payload: frame("1-0", "1")}); !errors.Is(err, ErrGone) {
		t.Fatalf("404: %v, want ErrGone", err)
	}
}

func TestWebPushFailuresAreClassified(t *testing.T) {
	wp, srv := newWebPushPair(t)
	sub := srv.NewSubscription(t)
	n := Notification{Payload: frame("1-0", "1")}
	cases := []struct {
		status    int
		retryable bool
		after     time.Duration
	}{
		{http.StatusTooManyRequests, true, pushtest.RetryAfter},
		{http.StatusServiceUnavailable, true, pushtest.RetryAfter},
		{http.StatusInternalServerError, true, 0},
		{http.StatusBadRequest, false, 0},
		{http.StatusForbidden, false, 0},
		{http.StatusRequestEntityTooLarge, false, 0},
	}
	for _, tc := range cases {
		srv.FailNext(1, tc.status)
		err := wp.Send(context.Background(), sub, n)
		checkClass(t, tc.status, err, tc.retryable, tc.after)
	}
	if err := wp.Send(context.Background(), sub, n); err != nil {
		t.Fatalf("after the failures: %v", err)
	}
}

// checkClass asserts err is retryable (with After) or permanent, never gone.
func checkClass(t *testing.T, status int, err error, retryable bool, after time.Duration) {
	t.Helper()
	var re *RetryableError
	switch {
	case err == nil:
		t.Fatalf("%d: no error", status)
	case errors.Is(err, ErrGone):
		t.Fatalf("%d: %v is ErrGone", status, err)
	case errors.As(err, &re) != retryable:
		t.Fatalf("%d: %v, want retryable %v", status, err, retryable)
	case retryable && re.After != after:
		t.Fatalf("%d: After %v, want %v", status, re.After, after)
	}
}

func TestWebPushNetworkErrorIsRetryable(t *testing.T) {
	wp, srv := newWebPushPair(t)
	sub := srv.NewSubscription(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	sub.Endpoint = dead.URL + "/push/x"
	var re *RetryableError
	if err := wp.Send(context.Background(), sub, Notification{Payload: frame("1-0", "1")}); !errors.As(err, &re) {
		t.Fatalf("refused connection: %v, want retryable", err)
	}
}

func TestWebPushSendsALargePushWithoutItsData(t *testing.T) {
	wp, srv := newWebPushPair(t)
	sub := srv.NewSubscription(t)
	big := frame("7-1", `"`+strings.Repeat("x", 5000)+`"`)
	if err := wp.Send(context.Background(), sub, Notification{ID: "7-1", Payload: big}); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(srv.Received()[0].Body, &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["data"]; ok || got["truncated"] != true || got["id"] != "7-1" || got["to"] != "u1" {
		t.Fatalf("large push arrived as %v", got)
	}
	tooBig := []byte(`{"id":"` + strings.Repeat("x", 5000) + `"}`)
	if err := wp.Send(context.Background(), sub, Notification{Payload: tooBig}); !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("frame too large without data: %v", err)
	}
}

func TestWebPushRefusesAnUnusableTarget(t *testing.T) {
	wp, _ := newWebPushPair(t)
	bad := wire.PushTarget{Kind: wire.KindWebPush, Endpoint: "https://push.example/x"}
	if err := wp.Send(context.Background(), bad, Notification{}); !errors.Is(err, ErrGone) {
		t.Fatalf("target without keys: %v, want ErrGone", err)
	}
	if err := wp.Send(context.Background(), wire.PushTarget{Kind: wire.KindFCM, Token: "t"}, Notification{}); err == nil || errors.Is(err, ErrGone) {
		t.Fatalf("fcm target to the webpush sender: %v, want a permanent error", err)
	}
}

func TestVAPIDTokenIsCachedPerOriginUntilNearExpiry(t *testing.T) {
	pub, priv := pushtest.NewVAPIDKeys(t)
	now := time.Unix(1_800_000_000, 0)
	v, err := newVAPID(pub, priv, "https://example.com/contact", func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	a, _ := v.authorization(mustURL(t, "https://push.example/a"))
	b, _ := v.authorization(mustURL(t, "https://push.example/b"))
	other, _ := v.authorization(mustURL(t, "https://other.example/a"))
	if a != b || a == other {
		t.Fatal("one origin should share one token, another origin get its own")
	}
	now = now.Add(vapidLifetime - vapidRefreshBefore)
	if c, _ := v.authorization(mustURL(t, "https://push.example/a")); c == a {
		t.Fatal("token reused with under an hour left")
	}
}

func TestNewWebPushChecksItsKeys(t *testing.T) {
	pub, priv := pushtest.NewVAPIDKeys(t)
	otherPub, _ := pushtest.NewVAPIDKeys(t)
	for name, cfg := range map[string]WebPushConfig{
		"bad subject":     {VAPIDPublicKey: pub, VAPIDPrivateKey: priv, Subject: "ops@example.com"},
		"mismatched keys": {VAPIDPublicKey: otherPub, VAPIDPrivateKey: priv, Subject: "mailto:a@b"},
		"no private key":  {VAPIDPublicKey: pub, Subject: "mailto:a@b"},
		"garbage key":     {VAPIDPublicKey: pub, VAPIDPrivateKey: "!!", Subject: "mailto:a@b"},
	} {
		if _, err := NewWebPush(cfg, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestVAPIDCacheIsBounded: endpoints come from clients, so a flood of
// distinct origins must not grow the token cache past maxVAPIDOrigins.
func TestVAPIDCacheIsBounded(t *testing.T) {
	pub, priv := pushtest.NewVAPIDKeys(t)
	v, err := newVAPID(pub, priv, "mailto:ops@example.com", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxVAPIDOrigins + 10 {
		if _, err := v.authorization(mustURL(t, fmt.Sprintf("https://p%d.example/x", i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(v.mu.byOrigin); n > maxVAPIDOrigins || n == 0 {
		t.Fatalf("cache holds %d origins, want 1..%d", n, maxVAPIDOrigins)
	}
}
