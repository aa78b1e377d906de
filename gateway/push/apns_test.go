package push

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/gateway/push/pushtest"
	"github.com/herald-push/herald/wire"
)

func newAPNsPair(t *testing.T) (*APNs, *pushtest.APNsServer) {
	t.Helper()
	srv := pushtest.NewAPNsServer(t)
	a, err := NewAPNs(APNsConfig{KeyFile: srv.KeyFile, KeyID: srv.KeyID, TeamID: srv.TeamID,
		Topic: srv.Topic, Endpoint: srv.Endpoint, CAFile: srv.CAFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.hc.CloseIdleConnections)
	return a, srv
}

func apnsTarget(token string) wire.PushTarget {
	return wire.PushTarget{Kind: wire.KindAPNs, Token: token}
}

func TestAPNsDeliversAnAlertOverHTTP2(t *testing.T) {
	a, srv := newAPNsPair(t)
	n := Notification{ID: "5-0", Payload: frame("5-0", `{"k":"v"}`), Title: "Ana", Body: "hi",
		Data: map[string]string{"room": "42"}, CollapseKey: strings.Repeat("c", 70), TTL: time.Hour}
	if err := a.Send(context.Background(), apnsTarget("abcd01"), n); err != nil {
		t.Fatal(err)
	}
	m := srv.Received()[0]
	h := m.Header
	if m.DeviceToken != "abcd01" || h.Get("apns-push-type") != "alert" || h.Get("apns-priority") != "10" ||
		len(h.Get("apns-collapse-id")) > 64 || h.Get("apns-collapse-id") == "" {
		t.Fatalf("headers %v", h)
	}
	if exp, _ := strconv.ParseInt(h.Get("apns-expiration"), 10, 64); exp < time.Now().Add(59*time.Minute).Unix() {
		t.Fatalf("apns-expiration %s", h.Get("apns-expiration"))
	}
	if string(m.Body["push"]) != string(n.Payload) || string(m.Body["room"]) != `"42"` ||
		!strings.Contains(string(m.Body["aps"]), `"title":"Ana"`) {
		t.Fatalf("body %v", m.Body)
	}
}

func TestAPNsIDIsStablePerPush(t *testing.T) {
	a, srv := newAPNsPair(t)
	for _, id := range []string{"5-0", "5-0", "5-1"} {
		if err := a.Send(context.Background(), apnsTarget("ab"), Notification{ID: id, Payload: frame(id, "1")}); err != nil {
			t.Fatal(err)
		}
	}
	got := srv.Received()
	if got[0].Header.Get("apns-id") != got[1].Header.Get("apns-id") || got[0].Header.Get("apns-id") == got[2].Header.Get("apns-id") {
		t.Fatalf("apns-ids %s %s %s", got[0].Header.Get("apns-id"), got[1].Header.Get("apns-id"), got[2].Header.Get("apns-id"))
	}
}

func TestAPNsSilentPushIsBackground(t *testing.T) {
	a, srv := newAPNsPair(t)
	if err := a.Send(context.Background(), apnsTarget("ab"), Notification{Payload: frame("1-0", "1")}); err != nil {
		t.Fatal(err)
	}
	m := srv.Received()[0]
	if m.Header.Get("apns-push-type") != "background" || m.Header.Get("apns-priority") != "5" || m.Header.Get("apns-expiration") != "0" {
		t.Fatalf("headers %v", m.Header)
	}
}

func TestAPNsProviderTokenIsCachedAndRefreshedWhenExpired(t *testing.T) {
	a, srv := newAPNsPair(t)
	n := Notification{Payload: frame("1-0", "1")}
	for range 3 {
		if err := a.Send(context.Background(), apnsTarget("ab"), n); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.ProviderTokens(); got != 1 {
		t.Fatalf("%d provider tokens for three sends", got)
	}
	srv.ExpireTokens()
	if err := a.Send(context.Background(), apnsTarget("ab"), n); err != nil {
		t.Fatalf("after ExpiredProviderToken: %v", err)
	}
	if got, m := srv.ProviderTokens(), len(srv.Received()); got != 2 || m != 4 {
		t.Fatalf("%d tokens, %d messages; want 2 and 4", got, m)
	}
}

func TestAPNsProviderTokenLifetime(t *testing.T) {
	srv := pushtest.NewAPNsServer(t)
	key, err := loadAPNsKey(srv.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	p := &providerToken{key: key, keyID: "k", teamID: "t", now: func() time.Time { return now }}
	first, _ := p.get("")
	now = now.Add(providerTokenLife - time.Second)
	if again, _ := p.get(""); again != first {
		t.Fatal("token replaced before its 50 minutes")
	}
	now = now.Add(time.Second)
	if later, _ := p.get(""); later == first {
		t.Fatal("token kept past 50 minutes")
	}
}

func TestAPNsGoneTokens(t *testing.T) {
	a, srv := newAPNsPair(t)
	srv.BadDeviceToken("bad0")
	srv.Unregistered("0dd0")
	for _, tok := range []string{"bad0", "0dd0"} {
		if err := a.Send(context.Background(), apnsTarget(tok), Notification{Payload: frame("1-0", "1")}); !errors.Is(err, ErrGone) {
			t.Errorf("%s: %v, want ErrGone", tok, err)
		}
	}
	if err := a.Send(context.Background(), apnsTarget("not-hex"), Notification{Payload: frame("1-0", "1")}); !errors.Is(err, ErrGone) {
		t.Errorf("non-hex token: %v, want ErrGone", err)
	}
}

func TestAPNsFailuresAreClassified(t *testing.T) {
	a, srv := newAPNsPair(t)
	n := Notification{Payload: frame("1-0", "1")}
	for _, tc := range []struct {
		status    int
		retryable bool
		after     time.Duration
	}{
		{http.StatusTooManyRequests, true, pushtest.RetryAfter},
		{http.StatusServiceUnavailable, true, pushtest.RetryAfter},
		{http.StatusInternalServerError, true, 0},
		{http.StatusBadRequest, false, 0},
		{http.StatusRequestEntityTooLarge, false, 0},
	} {
		srv.FailNext(1, tc.status)
		checkClass(t, tc.status, a.Send(context.Background(), apnsTarget("ab"), n), tc.retryable, tc.after)
	}
}

func TestAPNsSendsALargePushWithoutItsData(t *testing.T) {
	a, srv := newAPNsPair(t)
	big := frame("8-0", `"`+strings.Repeat("z", 5000)+`"`)
	if err := a.Send(context.Background(), apnsTarget("ab"), Notification{Payload: big}); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(srv.Received()[0].Body["push"], &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["data"]; ok || got["truncated"] != true {
		t.Fatalf("large push arrived as %v", got)
	}
}

func TestNewAPNsChecksItsConfig(t *testing.T) {
	srv := pushtest.NewAPNsServer(t)
	good := APNsConfig{KeyFile: srv.KeyFile, KeyID: srv.KeyID, TeamID: srv.TeamID, Topic: srv.Topic}
	for name, mut := range map[string]func(*APNsConfig){
		"no topic":    func(c *APNsConfig) { c.Topic = "" },
		"no key":      func(c *APNsConfig) { c.KeyFile = srv.KeyFile + ".missing" },
		"key not PEM": func(c *APNsConfig) { c.KeyFile = srv.CAFile },
		"ca not PEM":  func(c *APNsConfig) { c.CAFile = srv.KeyFile + ".missing" },
	} {
		cfg := good
		mut(&cfg)
		if _, err := NewAPNs(cfg, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
