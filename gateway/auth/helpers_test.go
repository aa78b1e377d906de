package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testKey is a private key and the kid it is published under.
type testKey struct {
	kid    string
	signer crypto.Signer
}

func newRSA(t testing.TB, kid string) testKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid, k}
}

func newEC(t testing.TB, kid string) testKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid, k}
}

func newEd(t testing.TB, kid string) testKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid, k}
}

func (k testKey) method() jwt.SigningMethod {
	switch k.signer.(type) {
	case *rsa.PrivateKey:
		return jwt.SigningMethodRS256
	case *ecdsa.PrivateKey:
		return jwt.SigningMethodES256
	}
	return jwt.SigningMethodEdDSA
}

// token signs claims (sub alice, exp in an hour, unless given) with k, naming
// k.kid unless it is empty.
func (k testKey) token(t testing.TB, extra jwt.MapClaims) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
	for n, v := range extra {
		claims[n] = v
	}
	tok := jwt.NewWithClaims(k.method(), claims)
	if k.kid != "" {
		tok.Header["kid"] = k.kid
	}
	s, err := tok.SignedString(k.signer)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// publicPEM is k's public key as a PEM block.
func (k testKey) publicPEM(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// jwk is k's public key as a JWK map; alg is set as the token's.
func (k testKey) jwk() map[string]string {
	enc := base64.RawURLEncoding.EncodeToString
	m := map[string]string{"kid": k.kid, "use": "sig", "alg": k.method().Alg()}
	switch p := k.signer.Public().(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", enc(p.N.Bytes()), enc([]byte{1, 0, 1})
	case *ecdsa.PublicKey:
		b, _ := p.Bytes()
		m["kty"], m["crv"], m["x"], m["y"] = "EC", "P-256", enc(b[1:33]), enc(b[33:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", enc(p)
	}
	return m
}

func writeFile(t testing.TB, name string, data ...[]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	var all []byte
	for _, d := range data {
		all = append(all, d...)
	}
	if err := os.WriteFile(path, all, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// jwksServer is a provider's JWKS endpoint whose keys a test changes, and
// which it can take down; it counts the requests it gets.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	keys []map[string]string
	down bool
	cc   string // Cache-Control
}

func newJWKSServer(t testing.TB, keys ...testKey) *jwksServer {
	s := &jwksServer{}
	s.set(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(w http.ResponseWriter, _ *http.Request) {
	s.hits.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if s.cc != "" {
		w.Header().Set("Cache-Control", s.cc)
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
}

func (s *jwksServer) set(keys ...testKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = nil
	for _, k := range keys {
		s.keys = append(s.keys, k.jwk())
	}
}

func (s *jwksServer) setRaw(keys ...map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func (s *jwksServer) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newTestVerifier builds a Verifier of cfg, closed when the test ends.
func newTestVerifier(t testing.TB, cfg Config, m *Metrics) *Verifier {
	t.Helper()
	v, err := New(cfg, quiet, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// wantErr checks that err matches exactly the sentinel want and contains text.
func wantErr(t testing.TB, err, want error, text string) {
	t.Helper()
	if got := sentinelsOf(err); len(got) != 1 || got[0] != want {
		t.Fatalf("err = %v, matches %v, want exactly %v", err, got, want)
	}
	if !containsText(err, text) {
		t.Fatalf("err = %q, want it to contain %q", err, text)
	}
}

func containsText(err error, text string) bool {
	return text == "" || (err != nil && strings.Contains(err.Error(), text))
}

// pemOf is k's private key as PKCS#8 PEM.
func pemOf(t testing.TB, k testKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k.signer)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
