package main

import (
	"log/slog"

	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/gateway/auth"
)

// newVerifier builds the token verifier of auth.*: the flat keys are one
// issuer, each auth.issuers entry another. Its JWKS goroutines run until
// Close.
func newVerifier(a config.Auth, log *slog.Logger, m *auth.Metrics) (*auth.Verifier, error) {
	cfg := verifierConfig(a)
	if len(cfg.Issuers) == 0 {
		return auth.NewVerifier(nil, a.Leeway), nil // no keys at all: every token is refused
	}
	return auth.New(cfg, log, m)
}

func verifierConfig(a config.Auth) auth.Config {
	cfg := auth.Config{
		Leeway: a.Leeway,
		JWKS:   auth.JWKSTiming{Refresh: a.JWKSRefresh, RefetchInterval: a.JWKSRefetchInterval},
	}
	if a.HMACSecret != "" || a.JWKSURL != "" || len(a.PublicKeys) > 0 {
		cfg.Issuers = append(cfg.Issuers, auth.IssuerConfig{
			Issuer: a.Issuer, Audience: a.Audience, HMACSecret: []byte(a.HMACSecret),
			PublicKeys: a.PublicKeys, JWKSURL: a.JWKSURL,
		})
	}
	for _, is := range a.Issuers {
		cfg.Issuers = append(cfg.Issuers, auth.IssuerConfig{
			Issuer: is.Issuer, Audience: is.Audience, PublicKeys: is.PublicKeys, JWKSURL: is.JWKSURL,
		})
	}
	return cfg
}
