package auth

import (
	"testing"
	"time"
)

// BenchmarkVerify is the cost of one handshake's token check per algorithm,
// keys from PEM files (JWKS keys cost the same once cached).
func BenchmarkVerify(b *testing.B) {
	hs := NewVerifier(secret, 0)
	hsTok := mint(b, Claims{User: "alice", Expiry: time.Now().Add(time.Hour)}, time.Now())
	b.Run("HS256", func(b *testing.B) { benchVerify(b, hs, hsTok) })
	for _, k := range []testKey{newRSA(b, "k"), newEC(b, "k"), newEd(b, "k")} {
		path := writeFile(b, "k.pem", k.publicPEM(b))
		v := newTestVerifier(b, Config{Issuers: []IssuerConfig{{PublicKeys: []string{"k=" + path}}}}, nil)
		b.Run(k.method().Alg(), func(b *testing.B) { benchVerify(b, v, k.token(b, nil)) })
	}
	k := newRSA(b, "k")
	srv := newJWKSServer(b, k)
	v := newTestVerifier(b, Config{Issuers: []IssuerConfig{{JWKSURL: srv.URL}, {Issuer: "other", HMACSecret: secret}}}, nil)
	b.Run("RS256 JWKS, two issuers", func(b *testing.B) { benchVerify(b, v, k.token(b, nil)) })
}

func benchVerify(b *testing.B, v *Verifier, tok string) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
