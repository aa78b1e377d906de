package pushtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// recorder is a testing.TB that keeps the fakes' Errorf calls instead of
// failing, to test that they refuse what a real service would.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, format)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errs)
}

func post(t *testing.T, hc *http.Client, target string, h map[string]string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func signES256(t *testing.T, key *ecdsa.PrivateKey, claims jwt.MapClaims, kid string) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWebPushServerRefusesABadVAPIDToken(t *testing.T) {
	rec := &recorder{TB: t}
	pub, _ := NewVAPIDKeys(t)
	srv := NewWebPushServer(rec, pub)
	sub := srv.NewSubscription(t)
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tok := signES256(t, stranger, jwt.MapClaims{"aud": srv.URL, "exp": time.Now().Add(time.Hour).Unix(), "sub": "mailto:a@b"}, "")
	h := map[string]string{"Authorization": "vapid t=" + tok + ", k=" + pub, "Content-Encoding": "aes128gcm", "TTL": "0"}
	if status := post(t, http.DefaultClient, sub.Endpoint, h, []byte("x")); status != http.StatusUnauthorized || rec.count() != 1 {
		t.Fatalf("token signed by another key: %d, %d errors", status, rec.count())
	}
	if len(srv.Received()) != 0 {
		t.Fatal("recorded a refused message")
	}
}

func TestAPNsServerRefusesATokenOfAnotherTeam(t *testing.T) {
	rec := &recorder{TB: t}
	srv := NewAPNsServer(rec)
	hc := apnsTestClient(t, srv)
	key := loadKey(t, srv.KeyFile)
	tok := signES256(t, key, jwt.MapClaims{"iss": "OTHERTEAM1", "iat": time.Now().Unix()}, srv.KeyID)
	h := map[string]string{"Authorization": "bearer " + tok, "apns-topic": srv.Topic, "apns-push-type": "background", "apns-priority": "5"}
	body := []byte(`{"aps":{"content-available":1}}`)
	if status := post(t, hc, srv.Endpoint+"/3/device/ab", h, body); status != http.StatusForbidden || rec.count() != 1 {
		t.Fatalf("another team's token: %d, %d errors", status, rec.count())
	}
	h["Authorization"] = "bearer " + signES256(t, key, jwt.MapClaims{"iss": srv.TeamID, "iat": time.Now().Unix()}, srv.KeyID)
	if status := post(t, hc, srv.Endpoint+"/3/device/ab", h, body); status != http.StatusOK {
		t.Fatalf("a good token: %d", status)
	}
	h["apns-priority"] = "10" // Apple refuses a background push at priority 10
	if status := post(t, hc, srv.Endpoint+"/3/device/ab", h, body); status != http.StatusBadRequest || rec.count() != 2 {
		t.Fatalf("background at priority 10: %d, %d errors", status, rec.count())
	}
}

func TestFCMServerRefusesAnAssertionWithoutTheScope(t *testing.T) {
	rec := &recorder{TB: t}
	srv := NewFCMServer(rec)
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": srv.email, "aud": srv.TokenURL,
		"scope": "https://www.googleapis.com/auth/cloud-platform.read-only",
		"iat":   time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	assertion, _ := tok.SignedString(srv.key)
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}}
	resp, err := http.Post(srv.TokenURL, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || rec.count() != 1 || srv.TokenRequests() != 0 {
		t.Fatalf("assertion without the scope: %d, %d errors", resp.StatusCode, rec.count())
	}
}
