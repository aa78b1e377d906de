package auth

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Verify's errors wrap exactly one of these, so the gateway can pick a
// status and log a class with errors.Is. Their text is safe to send to a
// client: it never includes a secret or a key.
var (
	ErrMissing   = errors.New("auth: missing token")
	ErrMalformed = errors.New("auth: malformed token")
	ErrExpired   = errors.New("auth: token expired")
	ErrSignature = errors.New("auth: bad signature")
	ErrClaims    = errors.New("auth: invalid claims") // missing sub/exp, bad user id, nbf in the future, wrong alg
)

// keySet says which algorithms are acceptable and which key verifies a given
// token. HS256 with one shared secret is the only one today; RS256/ES256
// with configured public keys (chosen by "kid") would be another keySet.
type keySet interface {
	methods() []string
	key(t *jwt.Token) (any, error)
}

// hmacKey is the HS256 shared secret.
type hmacKey []byte

// errNoKey keeps an empty secret from verifying tokens signed with an empty
// key, which anyone can produce.
var errNoKey = errors.New("no verification key")

func (hmacKey) methods() []string { return []string{jwt.SigningMethodHS256.Alg()} }

func (k hmacKey) key(*jwt.Token) (any, error) {
	if len(k) == 0 {
		return nil, errNoKey
	}
	return []byte(k), nil
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	keys   keySet
	parser *jwt.Parser
}

// NewVerifier verifies HS256 tokens signed with secret, tolerating leeway of
// clock skew on exp, nbf and iat. An empty secret refuses every token.
func NewVerifier(secret []byte, leeway time.Duration) *Verifier {
	return newVerifier(hmacKey(bytes.Clone(secret)), leeway, time.Now)
}

func newVerifier(keys keySet, leeway time.Duration, now func() time.Time) *Verifier {
	return &Verifier{
		keys: keys,
		parser: jwt.NewParser(
			jwt.WithValidMethods(keys.methods()),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(max(leeway, 0)),
			jwt.WithTimeFunc(now),
		),
	}
}

// Verify checks token's signature, algorithm, times and claims.
func (v *Verifier) Verify(token string) (Claims, error) {
	if token == "" {
		return Claims{}, ErrMissing
	}
	var tc tokenClaims
	parsed, err := v.parser.ParseWithClaims(token, &tc, v.keys.key)
	if err != nil {
		return Claims{}, v.classify(parsed, err)
	}
	c := claimsOf(&tc)
	if err := c.validate(); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// classify maps a jwt error to one sentinel. The algorithm is checked before
// the signature because jwt reports a disallowed alg (including "none") as a
// bad signature, while for us it is a claim the token must not make.
func (v *Verifier) classify(t *jwt.Token, err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrMalformed
	case t != nil && !v.algAllowed(t):
		return fmt.Errorf("%w: alg %s is not accepted", ErrClaims, quote(t.Header["alg"]))
	case errors.Is(err, errNoKey), errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ErrSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return fmt.Errorf("%w: not valid yet (nbf)", ErrClaims)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return fmt.Errorf("%w: issued in the future (iat)", ErrClaims)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return fmt.Errorf("%w: exp is missing", ErrClaims)
	}
	return ErrClaims
}

func (v *Verifier) algAllowed(t *jwt.Token) bool {
	alg, _ := t.Header["alg"].(string)
	for _, m := range v.keys.methods() {
		if alg == m {
			return true
		}
	}
	return false
}

// quote renders an attacker-chosen header value briefly and safely.
func quote(v any) string {
	s, ok := v.(string)
	if !ok {
		return "(missing)"
	}
	if len(s) > 16 {
		s = s[:16] + "..."
	}
	return fmt.Sprintf("%q", s)
}
