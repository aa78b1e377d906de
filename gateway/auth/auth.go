// Package auth mints and verifies the session tokens of PROTOCOL.md section 3:
// JWTs carrying the user id (sub), an expiry (exp), and optionally a device
// and the topics a session starts subscribed to.
package auth

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims is what a verified token says about its session.
type Claims struct {
	User   string    // "sub", required, 1..128 bytes of [A-Za-z0-9_.:@-]
	Device string    // "device", optional, same rule
	Topics []string  // "topics", optional, each a topic name (same rule)
	Expiry time.Time // "exp", required
}

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

// maxIDBytes bounds user ids, devices and topic names (PROTOCOL.md section 1).
const maxIDBytes = 128

// tokenClaims is the JSON body of a token.
type tokenClaims struct {
	jwt.RegisteredClaims
	Device string   `json:"device,omitempty"`
	Topics []string `json:"topics,omitempty"`
}

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
	c := Claims{User: tc.Subject, Device: tc.Device, Topics: tc.Topics, Expiry: tc.ExpiresAt.Time}
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

// Mint signs c with HS256, setting iat to now and exp to c.Expiry. It
// refuses claims that Verify would refuse, except an expiry in the past:
// tests need expired tokens.
func Mint(secret []byte, c Claims, now time.Time) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("auth: mint: empty secret")
	}
	if err := c.validate(); err != nil {
		return "", err
	}
	tc := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.User,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(c.Expiry),
		},
		Device: c.Device,
		Topics: c.Topics,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, tc).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	return s, nil
}

func (c Claims) validate() error {
	if c.User == "" {
		return fmt.Errorf("%w: sub is missing", ErrClaims)
	}
	if c.Expiry.IsZero() {
		return fmt.Errorf("%w: exp is missing", ErrClaims)
	}
	if !ValidID(c.User) {
		return fmt.Errorf("%w: sub must be 1 to %d bytes of [A-Za-z0-9_.:@-]", ErrClaims, maxIDBytes)
	}
	if c.Device != "" && !ValidID(c.Device) {
		return fmt.Errorf("%w: device must be 1 to %d bytes of [A-Za-z0-9_.:@-]", ErrClaims, maxIDBytes)
	}
	for _, t := range c.Topics {
		if !ValidID(t) {
			return fmt.Errorf("%w: topics must be 1 to %d bytes of [A-Za-z0-9_.:@-] each", ErrClaims, maxIDBytes)
		}
	}
	return nil
}

// ValidID reports whether s is a valid user id, device or topic name:
// 1..128 bytes of [A-Za-z0-9_.:@-] (PROTOCOL.md section 1).
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > maxIDBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !idByte(s[i]) {
			return false
		}
	}
	return true
}

func idByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
		b == '_' || b == '.' || b == ':' || b == '@' || b == '-'
}

// TokenFromRequest finds the token: "Authorization: Bearer <jwt>" first,
// else the ?token= query parameter that browsers must use, since they cannot
// set headers on a WebSocket request.
func TokenFromRequest(r *http.Request) string {
	if scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " "); ok &&
		strings.EqualFold(scheme, "Bearer") {
		if tok = strings.TrimSpace(tok); tok != "" {
			return tok
		}
	}
	if r.URL == nil {
		return ""
	}
	return r.URL.Query().Get("token")
}
