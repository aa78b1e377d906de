package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
)

// providerKey is an identity provider's RSA signing key and its kid.
type providerKey struct {
	kid string
	key *rsa.PrivateKey
}

func newProviderKey(t *testing.T, kid string) providerKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return providerKey{kid, k}
}

func (p providerKey) jwk() map[string]string {
	enc := base64.RawURLEncoding.EncodeToString
	return map[string]string{"kty": "RSA", "kid": p.kid, "use": "sig", "alg": "RS256",
		"n": enc(p.key.N.Bytes()), "e": enc([]byte{1, 0, 1})}
}

// token is what the provider issues for user: RS256, iss and aud set.
func (p providerKey) token(t *testing.T, user, aud string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"sub": user, "iss": "https://id.example.test/", "aud": aud, "exp": time.Now().Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = p.kid
	s, err := tok.SignedString(p.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// provider serves a JWKS whose keys the test rotates.
type provider struct {
	*httptest.Server
	mu   sync.Mutex
	keys []providerKey
}

func newProvider(t *testing.T, keys ...providerKey) *provider {
	p := &provider{keys: keys}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		set := make([]map[string]string, 0, len(p.keys))
		for _, k := range p.keys {
			set = append(set, k.jwk())
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": set})
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *provider) rotate(keys ...providerKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = keys
}

// refusal is the status and JSON reason of a handshake with token.
func refusal(t *testing.T, n *testNode, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+n.Addr()+"/ws?token="+token, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusSwitchingProtocols {
		return res.StatusCode, "" // accepted; closing the body drops the session
	}
	var body struct{ Error string }
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("status %d, body is not {\"error\":...}: %v", res.StatusCode, err)
	}
	return res.StatusCode, body.Error
}

// A node behind an identity provider's JWKS: an RS256 client connects and gets a
// push; the provider rotates its key and a client with a token of the new key
// connects without a restart; the old key's tokens are refused once the cache
// refreshes; bad tokens get 401 with a JSON reason before the upgrade.
func TestProviderTokensEndToEnd(t *testing.T) {
	k1, k2 := newProviderKey(t, "2026-11"), newProviderKey(t, "2026-12")
	idp := newProvider(t, k1)
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{},
		"--auth.jwks_url", idp.URL, "--auth.issuer", "https://id.example.test/", "--auth.audience", "herald",
		"--auth.jwks_refresh", "200ms", "--auth.jwks_refetch_interval", "100ms")

	old := k1.token(t, "alice", "herald")
	alice := dialWelcome(t, n, old, "alice")
	xadd(t, n, "to", "alice", "data", `{"text":"hi"}`)
	if f := alice.next(5 * time.Second); f.str("type") != "push" {
		t.Fatalf("got %v, want a push", f)
	}

	idp.rotate(k1, k2) // the provider publishes the new key, then signs with it
	dialWelcome(t, n, k2.token(t, "bob", "herald"), "bob")

	idp.rotate(k2) // and retires the old one
	testkit.Eventually(t, 10*time.Second, func() error {
		if status, reason := refusal(t, n, old); status != http.StatusUnauthorized || !strings.Contains(reason, "unknown key id") {
			return fmt.Errorf("old key after its removal: %d %q", status, reason)
		}
		return nil
	})

	for name, tc := range map[string]struct{ token, reason string }{
		"wrong aud":  {k2.token(t, "carol", "billing"), "aud"},
		"bogus kid":  {providerKey{"nope", k2.key}.token(t, "carol", "herald"), `unknown key id (kid) "nope"`},
		"not a jwt":  {"x.y.z", "malformed"},
		"wrong sign": {providerKey{k2.kid, k1.key}.token(t, "carol", "herald"), "bad signature"},
	} {
		t.Run(name, func(t *testing.T) {
			status, reason := refusal(t, n, tc.token)
			if status != http.StatusUnauthorized || !strings.Contains(reason, tc.reason) {
				t.Fatalf("got %d %q, want 401 with %q", status, reason, tc.reason)
			}
		})
	}
	if got := metricLine(t, n, `herald_jwks_refreshes_total{result="ok"}`); got == "" {
		t.Error("JWKS refreshes are not in /metrics")
	}
}

func dialWelcome(t *testing.T, n *testNode, token, user string) *wsClient {
	t.Helper()
	c, res, err := dial(t, n, "token="+token, nil)
	if err != nil {
		t.Fatalf("dial as %s: %v (%v)", user, err, statusOf(res))
	}
	if w := c.next(5 * time.Second); w.str("type") != "welcome" || w.str("user") != user {
		t.Fatalf("first frame %v, want welcome for %s", w, user)
	}
	return c
}

// metricLine is the /metrics line that starts with name, or "".
func metricLine(t *testing.T, n *testNode, name string) string {
	t.Helper()
	res, err := http.Get("http://" + n.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if strings.HasPrefix(line, name) {
			return line
		}
	}
	return ""
}

// herald token --key signs with a private key, naming --kid and carrying
// auth.issuer and auth.audience; a node trusting the public key accepts it.
func TestTokenCommandWithKey(t *testing.T) {
	k := newProviderKey(t, "")
	der, err := x509.MarshalPKCS8PrivateKey(k.key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "signing.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	environ := []string{"HERALD_DEV_STATE=" + filepath.Join(dir, "dev.json"), "HERALD_AUTH__ISSUER=https://ops.example/", "HERALD_AUTH__AUDIENCE=herald"}
	var out strings.Builder
	if err := token([]string{"--user", "alice", "--key", keyFile, "--kid", "ops-1"}, environ, &out); err != nil {
		t.Fatal(err)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.key.PublicKey)
	pubFile := filepath.Join(dir, "public.pem")
	if err := os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := auth.New(auth.Config{Issuers: []auth.IssuerConfig{{Issuer: "https://ops.example/", Audience: []string{"herald"}, PublicKeys: []string{"ops-1=" + pubFile}}}}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if c, err := v.Verify(strings.TrimSpace(out.String())); err != nil || c.User != "alice" {
		t.Fatalf("claims %+v, err %v", c, err)
	}
}
