package auth

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// Verify's errors wrap exactly one of these, so the gateway can pick a
// status and log a class with errors.Is. Their text is safe to send to a
// client: it never includes a secret or a key.
var (
	ErrMissing   = errors.New("auth: missing token")
	ErrMalformed = errors.New("auth: malformed token")
	ErrExpired   = errors.New("auth: token expired")
	ErrSignature = errors.New("auth: bad signature")  // also: unknown kid, key set unavailable
	ErrClaims    = errors.New("auth: invalid claims") // missing sub/exp, bad user id, nbf in the future, wrong alg, iss or aud
)

// Config is how tokens are verified: by one or several issuers.
type Config struct {
	// Issuers are tried by the token's iss: those whose Issuer equals it, else
	// those with no Issuer configured. One at least.
	Issuers []IssuerConfig
	Leeway  time.Duration // clock skew tolerated on exp, nbf and iat
	JWKS    JWKSTiming
}

// IssuerConfig is one token issuer and its keys; at least one key source.
type IssuerConfig struct {
	Issuer     string   // iss the tokens must carry; "" checks none
	Audience   []string // aud must name one of these; empty checks none
	HMACSecret []byte   // HS256
	PublicKeys []string // PEM files: "path" or "kid=path"
	JWKSURL    string   // RS256, ES256 and EdDSA keys by kid
}

// Verifier checks tokens. It is safe for concurrent use. One built by New with
// a JWKS runs a refresh goroutine per key set until Close.
type Verifier struct {
	issuers []*issuer
	remotes []*remoteSet
	route   *jwt.Parser // reads iss before verification, to pick issuers
	once    sync.Once
}

// issuer verifies the tokens of one IssuerConfig.
type issuer struct {
	iss    string
	keys   *keyRing
	parser *jwt.Parser
}

// NewVerifier verifies HS256 tokens signed with secret, tolerating leeway of
// clock skew on exp, nbf and iat. An empty secret refuses every token.
func NewVerifier(secret []byte, leeway time.Duration) *Verifier {
	ring := &keyRing{hmac: bytes.Clone(secret), hmacOn: true}
	return &Verifier{issuers: []*issuer{newIssuer("", nil, ring, leeway, time.Now)}}
}

// New builds a Verifier from cfg, reading PEM files and fetching each JWKS
// once. A JWKS that cannot be fetched is logged and retried in the
// background; a bad PEM file or an issuer without keys is an error. m may be
// nil (counters not registered anywhere).
func New(cfg Config, log *slog.Logger, m *Metrics) (*Verifier, error) {
	if len(cfg.Issuers) == 0 {
		return nil, errors.New("auth: no issuer configured")
	}
	if m == nil {
		m = NewMetrics(prometheus.NewRegistry())
	}
	v := &Verifier{route: jwt.NewParser()}
	for i, ic := range cfg.Issuers {
		ring, err := v.ring(ic, cfg.JWKS, log, m)
		if err != nil {
			v.Close()
			return nil, fmt.Errorf("auth: issuer %d (%q): %w", i+1, ic.Issuer, err)
		}
		v.issuers = append(v.issuers, newIssuer(ic.Issuer, ic.Audience, ring, cfg.Leeway, time.Now))
	}
	return v, nil
}

// ring loads one issuer's keys and starts its JWKS cache.
func (v *Verifier) ring(ic IssuerConfig, timing JWKSTiming, log *slog.Logger, m *Metrics) (*keyRing, error) {
	if len(ic.HMACSecret) == 0 && len(ic.PublicKeys) == 0 && ic.JWKSURL == "" {
		return nil, errors.New("no key: set an HMAC secret, public keys or a JWKS URL")
	}
	pem, err := loadPEMFiles(ic.PublicKeys)
	if err != nil {
		return nil, err
	}
	ring := &keyRing{hmac: bytes.Clone(ic.HMACSecret), hmacOn: len(ic.HMACSecret) > 0, pem: pem}
	if ic.JWKSURL != "" {
		ring.remote = newRemoteSet(ic.JWKSURL, timing, log, m)
		v.remotes = append(v.remotes, ring.remote)
	}
	return ring, nil
}

func newIssuer(iss string, aud []string, keys *keyRing, leeway time.Duration, now func() time.Time) *issuer {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(keys.methods()),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(max(leeway, 0)),
		jwt.WithTimeFunc(now),
	}
	if iss != "" {
		opts = append(opts, jwt.WithIssuer(iss))
	}
	if len(aud) > 0 {
		opts = append(opts, jwt.WithAudience(aud...))
	}
	return &issuer{iss: iss, keys: keys, parser: jwt.NewParser(opts...)}
}

// Close stops the JWKS refresh goroutines and waits for them. Idempotent.
func (v *Verifier) Close() {
	v.once.Do(func() {
		for _, r := range v.remotes {
			r.close()
		}
	})
}

// Verify checks token's signature, algorithm, times and claims. With several
// issuers it tries those the token's iss names; when all refuse, the reason
// given is the first of an issuer that held a key for the token.
func (v *Verifier) Verify(token string) (Claims, error) {
	if token == "" {
		return Claims{}, ErrMissing
	}
	cands, err := v.candidates(token)
	if err != nil {
		return Claims{}, err
	}
	var first, strong error
	for _, is := range cands {
		c, weak, err := is.verify(token)
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if strong == nil && !weak {
			strong = err
		}
	}
	if strong != nil {
		return Claims{}, strong
	}
	return Claims{}, first
}

// candidates are the issuers to try: those whose iss equals the token's, else
// those that check no iss.
func (v *Verifier) candidates(token string) ([]*issuer, error) {
	if len(v.issuers) == 1 {
		return v.issuers, nil
	}
	var rc jwt.RegisteredClaims
	if _, _, err := v.route.ParseUnverified(token, &rc); err != nil {
		return nil, ErrMalformed
	}
	var named, open []*issuer
	for _, is := range v.issuers {
		switch is.iss {
		case rc.Issuer:
			named = append(named, is)
		case "":
			open = append(open, is)
		}
	}
	if len(named) > 0 {
		return named, nil
	}
	if len(open) > 0 {
		return open, nil
	}
	return nil, fmt.Errorf("%w: iss %s is not an accepted issuer", ErrClaims, quote(rc.Issuer))
}

// verify checks token against this issuer. weak reports a refusal for want of
// a key or an algorithm, which another issuer may not share.
func (is *issuer) verify(token string) (c Claims, weak bool, err error) {
	var tc tokenClaims
	parsed, err := is.parser.ParseWithClaims(token, &tc, is.keys.key)
	if err != nil {
		var ke *keyError
		weak = errors.As(err, &ke) || (parsed != nil && !is.algAllowed(parsed))
		return Claims{}, weak, is.classify(parsed, err)
	}
	c = claimsOf(&tc)
	if err := c.validate(); err != nil {
		return Claims{}, false, err
	}
	return c, false, nil
}

// classify maps a jwt error to one sentinel. The algorithm is checked before
// the signature because jwt reports a disallowed alg (including "none") as a
// bad signature, while for us it is a claim the token must not make.
func (is *issuer) classify(t *jwt.Token, err error) error {
	var ke *keyError
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrMalformed
	case t != nil && !is.algAllowed(t):
		return fmt.Errorf("%w: alg %s is not accepted", ErrClaims, quote(t.Header["alg"]))
	case errors.As(err, &ke):
		return ke.err
	case errors.Is(err, errNoKey), errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ErrSignature
	}
	return classifyClaims(err)
}

// classifyClaims maps the errors of jwt's claim checks, which run after the
// signature's.
func classifyClaims(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return fmt.Errorf("%w: not valid yet (nbf)", ErrClaims)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return fmt.Errorf("%w: issued in the future (iat)", ErrClaims)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return fmt.Errorf("%w: iss is not the configured issuer", ErrClaims)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return fmt.Errorf("%w: aud does not name the configured audience", ErrClaims)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return fmt.Errorf("%w: %s is missing", ErrClaims, missingClaim(err))
	}
	return ErrClaims
}

// missingClaim names the required claim a token lacks: exp always, iss and aud
// when configured. jwt says which only in its text ("aud claim is required"),
// which the tests hold to.
func missingClaim(err error) string {
	for _, name := range []string{"iss", "aud"} {
		if strings.Contains(err.Error(), name+" claim is required") {
			return name
		}
	}
	return "exp"
}

func (is *issuer) algAllowed(t *jwt.Token) bool {
	alg, _ := t.Header["alg"].(string)
	for _, m := range is.keys.methods() {
		if alg == m {
			return true
		}
	}
	return false
}

// quote renders an attacker-chosen header or claim value briefly and safely.
func quote(v any) string {
	s, ok := v.(string)
	if !ok {
		return "(missing)"
	}
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return fmt.Sprintf("%q", s)
}
