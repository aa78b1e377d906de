package push

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/gateway/push/pushtest"
	"github.com/herald-push/herald/wire"
)

func newFCMPair(t *testing.T) (*FCM, *pushtest.FCMServer) {
	t.Helper()
	srv := pushtest.NewFCMServer(t)
	f, err := NewFCM(FCMConfig{CredentialsFile: srv.CredentialsFile, Endpoint: srv.Endpoint, TokenURL: srv.TokenURL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f, srv
}

func fcmTarget(token string) wire.PushTarget {
	return wire.PushTarget{Kind: wire.KindFCM, Token: token}
}

func TestFCMDeliversAMessageWithTheFrameAndTheAlert(t *testing.T) {
	f, srv := newFCMPair(t)
	n := Notification{ID: "3-0", Payload: frame("3-0", `{"a":1}`), Title: "Ana", Body: "hello",
		Data: map[string]string{"room": "42"}, CollapseKey: "room-42", TTL: time.Minute}
	if err := f.Send(context.Background(), fcmTarget("tok-1"), n); err != nil {
		t.Fatal(err)
	}
	got := srv.Received()
	if len(got) != 1 {
		t.Fatalf("received %d", len(got))
	}
	m := got[0]
	if m.Token != "tok-1" || m.Data["push"] != string(n.Payload) || m.Data["room"] != "42" {
		t.Fatalf("message %+v", m)
	}
	if m.Notification == nil || m.Notification.Title != "Ana" || m.Notification.Body != "hello" {
		t.Fatalf("notification %+v", m.Notification)
	}
	if m.Android == nil || m.Android.TTL != "60s" || m.Android.CollapseKey != "room-42" || m.Android.Priority != "high" {
		t.Fatalf("android %+v", m.Android)
	}
	if h := m.APNs.Headers; h["apns-push-type"] != "alert" || h["apns-priority"] != "10" || h["apns-collapse-id"] != "room-42" {
		t.Fatalf("apns headers %v", h)
	}
}

func TestFCMSilentPushIsABackgroundMessage(t *testing.T) {
	f, srv := newFCMPair(t)
	if err := f.Send(context.Background(), fcmTarget("tok-1"), Notification{Payload: frame("1-0", "1")}); err != nil {
		t.Fatal(err)
	}
	m := srv.Received()[0]
	if m.Notification != nil || m.APNs.Headers["apns-push-type"] != "background" || m.APNs.Headers["apns-priority"] != "5" ||
		!strings.Contains(string(m.APNs.Payload), `"content-available":1`) || m.Android.TTL != "0s" {
		t.Fatalf("silent message %+v, apns %+v", m, m.APNs)
	}
}

func TestFCMAccessTokenIsCachedAndRefreshedOnceOn401(t *testing.T) {
	f, srv := newFCMPair(t)
	for range 3 {
		if err := f.Send(context.Background(), fcmTarget("tok-1"), Notification{Payload: frame("1-0", "1")}); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.TokenRequests(); n != 1 {
		t.Fatalf("%d token requests for three sends, want 1", n)
	}
	srv.RevokeTokens()
	if err := f.Send(context.Background(), fcmTarget("tok-1"), Notification{Payload: frame("1-0", "1")}); err != nil {
		t.Fatalf("after a revoked token: %v", err)
	}
	if n, m := srv.TokenRequests(), len(srv.Received()); n != 2 || m != 4 {
		t.Fatalf("%d token requests and %d messages, want 2 and 4", n, m)
	}
}

func TestFCMGoneTokens(t *testing.T) {
	f, srv := newFCMPair(t)
	srv.Unregistered("old")
	srv.InvalidToken("garbled")
	for _, tok := range []string{"old", "garbled"} {
		if err := f.Send(context.Background(), fcmTarget(tok), Notification{Payload: frame("1-0", "1")}); !errors.Is(err, ErrGone) {
			t.Errorf("%s: %v, want ErrGone", tok, err)
		}
	}
}

func TestFCMFailuresAreClassified(t *testing.T) {
	f, srv := newFCMPair(t)
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
	} {
		srv.FailNext(1, tc.status)
		checkClass(t, tc.status, f.Send(context.Background(), fcmTarget("tok"), n), tc.retryable, tc.after)
	}
	srv.FailNext(1, http.StatusBadRequest)
	if err := f.Send(context.Background(), fcmTarget("tok"), n); !strings.Contains(err.Error(), "INVALID_ARGUMENT") {
		t.Fatalf("permanent error without the provider's reason: %v", err)
	}
}

func TestFCMSendsALargePushWithoutItsData(t *testing.T) {
	f, srv := newFCMPair(t)
	big := frame("9-0", `"`+strings.Repeat("y", 5000)+`"`)
	if err := f.Send(context.Background(), fcmTarget("tok"), Notification{Payload: big}); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(srv.Received()[0].Data["push"]), &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["data"]; ok || got["truncated"] != true || got["id"] != "9-0" {
		t.Fatalf("large push arrived as %v", got)
	}
}

func TestNewFCMChecksTheCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, path := range map[string]string{
		"missing":        filepath.Join(dir, "nope.json"),
		"not json":       write("a.json", "{"),
		"not an account": write("b.json", `{"type":"authorized_user"}`),
		"bad key":        write("c.json", `{"type":"service_account","project_id":"p","client_email":"e","private_key":"x"}`),
	} {
		if _, err := NewFCM(FCMConfig{CredentialsFile: path}, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestFCMTokenURLDefaultsToTheKeyFiles(t *testing.T) {
	srv := pushtest.NewFCMServer(t)
	f, err := NewFCM(FCMConfig{CredentialsFile: srv.CredentialsFile, Endpoint: srv.Endpoint}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Send(context.Background(), fcmTarget("tok"), Notification{Payload: frame("1-0", "1")}); err != nil {
		t.Fatal(err)
	}
}

func TestFCMConcurrentSendsShareOneAccessToken(t *testing.T) {
	f, srv := newFCMPair(t)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			errs <- f.Send(context.Background(), fcmTarget("tok"), Notification{Payload: frame("1-0", "1")})
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.TokenRequests(); n != 1 {
		t.Fatalf("%d token requests for 8 concurrent sends", n)
	}
}

func TestFCMTreatsAnEmptyTokenAsGone(t *testing.T) {
	f, srv := newFCMPair(t)
	if err := f.Send(context.Background(), fcmTarget(""), Notification{Payload: frame("1-0", "1")}); !errors.Is(err, ErrGone) {
		t.Fatalf("empty token: %v, want ErrGone", err)
	}
	if srv.TokenRequests() != 0 {
		t.Fatal("an empty token reached FCM")
	}
}
