package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/herald-push/herald/internal/testkit"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// RS256, ES256 and EdDSA keys from PEM files: several keys in one file, a kid
// given with "kid=path", tokens with and without a kid.
func TestAlgorithmsFromPEM(t *testing.T) {
	rsaKey, ecKey, edKey := newRSA(t, ""), newEC(t, ""), newEd(t, "")
	named := newRSA(t, "k1")
	both := writeFile(t, "both.pem", rsaKey.publicPEM(t), ecKey.publicPEM(t))
	ed := writeFile(t, "ed.pem", edKey.publicPEM(t))
	k1 := writeFile(t, "k1.pem", named.publicPEM(t))
	v := newTestVerifier(t, Config{Issuers: []IssuerConfig{{PublicKeys: []string{both, ed, "k1=" + k1}}}}, nil)
	withKid := func(k testKey, kid string) testKey { k.kid = kid; return k }
	for name, tok := range map[string]string{
		"RS256":                    rsaKey.token(t, nil),
		"ES256":                    ecKey.token(t, nil),
		"EdDSA":                    edKey.token(t, nil),
		"named key, kid":           named.token(t, nil),
		"named key, no kid":        withKid(named, "").token(t, nil),
		"unnamed key, any kid":     withKid(ecKey, "whatever").token(t, nil),
		"unnamed RSA key, any kid": withKid(rsaKey, "x").token(t, nil),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := v.Verify(tok)
			if err != nil || c.User != "alice" {
				t.Fatalf("claims %+v, err %v", c, err)
			}
		})
	}
	t.Run("unknown key", func(t *testing.T) {
		_, err := v.Verify(newRSA(t, "").token(t, nil))
		wantErr(t, err, ErrSignature, "")
	})
	t.Run("unknown kid, a named key of the alg only", func(t *testing.T) {
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{{PublicKeys: []string{"k1=" + k1}}}}, nil)
		_, err := v.Verify(newRSA(t, "k9").token(t, nil))
		wantErr(t, err, ErrSignature, `unknown key id (kid) "k9"`)
	})
}

func TestPEMFileErrors(t *testing.T) {
	priv := writeFile(t, "priv.pem", pemOf(t, newEC(t, "")))
	garbage := writeFile(t, "garbage.pem", []byte("not a key"))
	for name, path := range map[string]string{"private key": priv, "no PEM": garbage, "missing file": "/nonexistent/key.pem"} {
		t.Run(name, func(t *testing.T) {
			_, err := New(Config{Issuers: []IssuerConfig{{PublicKeys: []string{path}}}}, quiet, nil)
			if err == nil {
				t.Fatal("New accepted it")
			}
			if strings.Contains(err.Error(), "BEGIN") {
				t.Fatalf("error shows key material: %v", err)
			}
		})
	}
	if _, err := New(Config{Issuers: []IssuerConfig{{Issuer: "x"}}}, quiet, nil); err == nil {
		t.Fatal("an issuer without keys was accepted")
	}
}

// An issuer's iss and aud are checked when configured.
func TestIssuerAndAudience(t *testing.T) {
	key := newEC(t, "k1")
	path := writeFile(t, "k.pem", key.publicPEM(t))
	v := newTestVerifier(t, Config{Issuers: []IssuerConfig{{
		Issuer: "https://id.example.com/", Audience: []string{"herald", "push"}, PublicKeys: []string{path},
	}}}, nil)
	good := jwt.MapClaims{"iss": "https://id.example.com/", "aud": "push"}
	if _, err := v.Verify(key.token(t, good)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(key.token(t, jwt.MapClaims{"iss": "https://id.example.com/", "aud": []string{"other", "herald"}})); err != nil {
		t.Fatalf("aud list naming herald: %v", err)
	}
	tests := []struct {
		name   string
		claims jwt.MapClaims
		text   string
	}{
		{"wrong aud", jwt.MapClaims{"iss": "https://id.example.com/", "aud": "billing"}, "aud does not name"},
		{"no aud", jwt.MapClaims{"iss": "https://id.example.com/"}, "aud is missing"},
		{"wrong iss", jwt.MapClaims{"iss": "https://evil.example.com/", "aud": "herald"}, "iss is not the configured issuer"},
		{"no iss", jwt.MapClaims{"aud": "herald"}, "iss is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(key.token(t, tt.claims))
			wantErr(t, err, ErrClaims, tt.text)
		})
	}
}

// Two issuers at once, as during a migration: each token is routed by its iss;
// an issuer that checks no iss takes the rest.
func TestTwoIssuers(t *testing.T) {
	oldKey, newKey := newRSA(t, "old-1"), newEd(t, "new-1")
	srv := newJWKSServer(t, newKey)
	oldPath := writeFile(t, "old.pem", oldKey.publicPEM(t))
	v := newTestVerifier(t, Config{Issuers: []IssuerConfig{
		{Issuer: "https://old.example.com", PublicKeys: []string{oldPath}},
		{Issuer: "https://new.example.com", Audience: []string{"herald"}, JWKSURL: srv.URL},
	}}, nil)
	if _, err := v.Verify(oldKey.token(t, jwt.MapClaims{"iss": "https://old.example.com"})); err != nil {
		t.Fatalf("old issuer: %v", err)
	}
	if _, err := v.Verify(newKey.token(t, jwt.MapClaims{"iss": "https://new.example.com", "aud": "herald"})); err != nil {
		t.Fatalf("new issuer: %v", err)
	}
	_, err := v.Verify(oldKey.token(t, jwt.MapClaims{"iss": "https://new.example.com", "aud": "herald"}))
	wantErr(t, err, ErrSignature, `unknown key id (kid) "old-1"`) // the new issuer's JWKS lacks the old key
	_, err = v.Verify(newKey.token(t, jwt.MapClaims{"iss": "https://old.example.com"}))
	wantErr(t, err, ErrClaims, "EdDSA")
	_, err = v.Verify(oldKey.token(t, jwt.MapClaims{"iss": "https://third.example.com"}))
	wantErr(t, err, ErrClaims, `iss "https://third.example.com" is not an accepted issuer`)
	_, err = v.Verify(newKey.token(t, nil))
	wantErr(t, err, ErrClaims, `iss "" is not an accepted issuer`)

	t.Run("an issuer without iss takes the rest", func(t *testing.T) {
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{
			{Issuer: "https://old.example.com", PublicKeys: []string{oldPath}},
			{HMACSecret: secret},
		}}, nil)
		if _, err := v.Verify(mint(t, Claims{User: "bob", Expiry: time.Now().Add(time.Hour)}, time.Now())); err != nil {
			t.Fatal(err)
		}
		_, err := v.Verify(oldKey.token(t, jwt.MapClaims{"iss": "https://elsewhere"}))
		wantErr(t, err, ErrClaims, "alg \"RS256\" is not accepted")
	})
}

// Algorithm confusion: a key verifies only tokens of its own algorithm.
func TestAlgorithmConfusion(t *testing.T) {
	rsaKey := newRSA(t, "k1")
	pubPEM := rsaKey.publicPEM(t)
	path := writeFile(t, "k1.pem", pubPEM)
	claims := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
	hsWithPEM := signed(t, jwt.SigningMethodHS256, claims, pubPEM)

	pemOnly := newTestVerifier(t, Config{Issuers: []IssuerConfig{{PublicKeys: []string{path}}}}, nil)
	_, err := pemOnly.Verify(hsWithPEM)
	wantErr(t, err, ErrClaims, `alg "HS256" is not accepted`)

	both := newTestVerifier(t, Config{Issuers: []IssuerConfig{{HMACSecret: secret, PublicKeys: []string{path}}}}, nil)
	_, err = both.Verify(hsWithPEM)
	wantErr(t, err, ErrSignature, "")

	_, err = NewVerifier(secret, 0).Verify(rsaKey.token(t, nil))
	wantErr(t, err, ErrClaims, `alg "RS256" is not accepted`)

	_, err = both.Verify(noneToken(t, claims))
	wantErr(t, err, ErrClaims, `alg "none"`)

	t.Run("a JWK's alg must be the token's", func(t *testing.T) {
		srv := newJWKSServer(t)
		marked := rsaKey.jwk()
		marked["alg"] = "PS256"
		ec := newEC(t, "k2")
		srv.setRaw(marked, ec.jwk())
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{{JWKSURL: srv.URL}}}, nil)
		_, err := v.Verify(rsaKey.token(t, nil))
		wantErr(t, err, ErrSignature, `unknown key id (kid) "k1"`)
		rsaAsK2 := testKey{"k2", rsaKey.signer} // an RS256 token naming the EC key
		_, err = v.Verify(rsaAsK2.token(t, nil))
		wantErr(t, err, ErrSignature, `key id (kid) "k2" is not a key for alg RS256`)
		if _, err := v.Verify(ec.token(t, nil)); err != nil {
			t.Fatal(err)
		}
	})
}

// exp and nbf with leeway hold for asymmetric tokens as for HS256.
func TestLeewayAsymmetric(t *testing.T) {
	key := newEd(t, "")
	path := writeFile(t, "k.pem", key.publicPEM(t))
	v := newTestVerifier(t, Config{Leeway: 30 * time.Second, Issuers: []IssuerConfig{{PublicKeys: []string{path}}}}, nil)
	now := time.Now()
	tests := []struct {
		name   string
		claims jwt.MapClaims
		want   error
	}{
		{"expired within leeway", jwt.MapClaims{"exp": now.Add(-10 * time.Second).Unix()}, nil},
		{"expired beyond leeway", jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()}, ErrExpired},
		{"nbf within leeway", jwt.MapClaims{"nbf": now.Add(10 * time.Second).Unix()}, nil},
		{"nbf beyond leeway", jwt.MapClaims{"nbf": now.Add(time.Minute).Unix()}, ErrClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(key.token(t, tt.claims))
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// MintWith signs with RS256, ES256 or EdDSA by the key's type.
func TestMintWithKey(t *testing.T) {
	for _, key := range []testKey{newRSA(t, "r1"), newEC(t, "e1"), newEd(t, "d1")} {
		signer, err := ParsePrivateKeyPEM(pemOf(t, key))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := MintWith(signer, Claims{User: "alice", Expiry: time.Now().Add(time.Hour)}, time.Now(), MintOptions{Kid: key.kid, Issuer: "me", Audience: []string{"herald"}})
		if err != nil {
			t.Fatal(err)
		}
		path := writeFile(t, "k.pem", key.publicPEM(t))
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{{Issuer: "me", Audience: []string{"herald"}, PublicKeys: []string{key.kid + "=" + path}}}}, nil)
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("%s: %v", key.method().Alg(), err)
		}
	}
}

func metricValue(t testing.TB, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

var _ = testkit.Eventually
