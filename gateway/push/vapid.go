package push

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// VAPID token lifetimes (RFC 8292 section 2: exp at most 24 h ahead). A
// token is reused until refreshBefore of its life is left, so one token per
// push service origin serves for hours.
const (
	vapidLifetime      = 12 * time.Hour
	vapidRefreshBefore = time.Hour
	// maxVAPIDOrigins bounds the cache: endpoints come from clients, so
	// their origins are not a closed set. Past it the cache starts over.
	maxVAPIDOrigins = 1024
)

// vapid signs and caches the Authorization header for each push service
// origin.
type vapid struct {
	key     *ecdsa.PrivateKey
	public  string // base64url uncompressed point, the header's k
	subject string
	now     func() time.Time

	mu struct {
		sync.Mutex
		byOrigin map[string]vapidToken
	}
}

type vapidToken struct {
	header string
	exp    time.Time
}

// newVAPID checks the key pair (the private key must be the public key's)
// and the subject.
func newVAPID(publicKey, privateKey, subject string, now func() time.Time) (*vapid, error) {
	if !strings.HasPrefix(subject, "mailto:") && !strings.HasPrefix(subject, "https:") {
		return nil, fmt.Errorf("push: vapid subject %q must start with mailto: or https:", subject)
	}
	d, err := decodeB64URL(privateKey)
	if err != nil {
		return nil, fmt.Errorf("push: vapid private key: %w", err)
	}
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		return nil, fmt.Errorf("push: vapid private key: %w", err)
	}
	pub, err := decodeB64URL(publicKey)
	if err != nil {
		return nil, fmt.Errorf("push: vapid public key: %w", err)
	}
	if own, _ := key.PublicKey.Bytes(); !bytes.Equal(own, pub) {
		return nil, fmt.Errorf("push: vapid public key is not the private key's")
	}
	v := &vapid{key: key, public: base64.RawURLEncoding.EncodeToString(pub), subject: subject, now: now}
	v.mu.byOrigin = make(map[string]vapidToken)
	return v, nil
}

// authorization is the Authorization header for endpoint, from the cache
// while the cached token has more than vapidRefreshBefore left.
func (v *vapid) authorization(endpoint *url.URL) (string, error) {
	origin := endpoint.Scheme + "://" + endpoint.Host
	now := v.now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if tok, ok := v.mu.byOrigin[origin]; ok && now.Add(vapidRefreshBefore).Before(tok.exp) {
		return tok.header, nil
	}
	exp := now.Add(vapidLifetime)
	signed, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"aud": origin, "exp": exp.Unix(), "sub": v.subject,
	}).SignedString(v.key)
	if err != nil {
		return "", fmt.Errorf("push: sign vapid token: %w", err)
	}
	if len(v.mu.byOrigin) >= maxVAPIDOrigins {
		clear(v.mu.byOrigin)
	}
	tok := vapidToken{header: "vapid t=" + signed + ", k=" + v.public, exp: exp}
	v.mu.byOrigin[origin] = tok
	return tok.header, nil
}

// decodeB64URL accepts base64url with or without padding, as key tools
// write both.
func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
