// Package auth mints and verifies the session tokens of docs/PROTOCOL.md section 3:
// JWTs carrying the user id (sub), an expiry (exp), and optionally a device and the
// topics a session starts subscribed to; HS256 with a shared secret, RS256, ES256 and
// EdDSA with public keys from PEM files or a JWKS URL, from one or several issuers.
// It also holds the topic policy (topics.subscribe, topics.publish) that the session
// actors apply.
//
// # Files
//
//	claims.go   Claims, and the rule for user ids, devices and topic names
//	verify.go   Config, Verifier (routing by iss), the errors it returns, one class each
//	keyring.go  one issuer's keys, and which of them may verify a given token
//	pubkey.go   the accepted algorithms and the one key type each takes
//	pem.go      public keys from PEM files (auth.public_keys)
//	jwk.go      public keys from a JWKS document
//	jwks.go     the JWKS cache: fetch, refresh, rate-limited refetch
//	metrics.go  JWKS counters
//	mint.go     Mint and MintWith, for herald token, the dev endpoints and tests
//	request.go  where a request carries its token
//	policy.go   TopicPolicy
//
// # Goroutines
//
// A Verifier built by New runs one refresh goroutine per JWKS URL; Close stops
// them and waits. A Verifier without a JWKS and a TopicPolicy start none. All are
// safe for concurrent use.
//
// # Imports
//
// The standard library, golang-jwt and the Prometheus client only: auth imports no
// Herald package. Its users are gateway (Verifier, TokenFromRequest), gateway/web
// (Mint), cmd/herald (New, NewVerifier, NewTopicPolicy, MintWith) and bench (Mint).
package auth
