// Package auth mints and verifies the session tokens of docs/PROTOCOL.md section 3:
// HS256 JWTs carrying the user id (sub), an expiry (exp), and optionally a device
// and the topics a session starts subscribed to. It also holds the topic policy
// (topics.subscribe, topics.publish) that the session actors apply.
//
// # Files
//
//	claims.go   Claims, and the rule for user ids, devices and topic names
//	verify.go   Verifier and the errors it returns, one class each
//	mint.go     Mint, for herald token, the dev endpoints and tests
//	request.go  where a request carries its token
//	policy.go   TopicPolicy
//
// # Goroutines
//
// None. A Verifier and a TopicPolicy do not change once built and are safe for
// concurrent use; nothing needs stopping.
//
// # Imports
//
// The standard library and golang-jwt only: auth imports no Herald package. Its
// users are gateway (Verifier, TokenFromRequest), gateway/web (Mint), cmd/herald
// (NewVerifier, NewTopicPolicy, Mint) and bench (Mint).
package auth
