package push

import (
	"crypto/ecdsa"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// providerTokenLife is how long an APNs provider token is reused: Apple
// refuses tokens older than an hour and refreshes more often than every
// 20 minutes (TooManyProviderTokenUpdates).
const providerTokenLife = 50 * time.Minute

// providerToken signs and caches the ES256 JWT APNs authenticates with.
type providerToken struct {
	key    *ecdsa.PrivateKey
	keyID  string
	teamID string
	now    func() time.Time

	mu struct {
		sync.Mutex
		token string
		iat   time.Time
	}
}

// loadAPNsKey reads the .p8 file Apple gives: a PKCS#8 P-256 key in PEM.
func loadAPNsKey(path string) (*ecdsa.PrivateKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("push: apns key: %w", err)
	}
	key, err := pkcs8PEM(raw)
	if err != nil {
		return nil, fmt.Errorf("push: apns key %s: %w", path, err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("push: apns key %s is a %T, not an EC key", path, key)
	}
	return ec, nil
}

// get returns the cached token, or signs a new one when it is older than
// providerTokenLife or is stale (the one APNs just called expired).
func (p *providerToken) get(stale string) (string, error) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.token != "" && p.mu.token != stale && now.Sub(p.mu.iat) < providerTokenLife {
		return p.mu.token, nil
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": p.teamID, "iat": now.Unix()})
	tok.Header["kid"] = p.keyID
	s, err := tok.SignedString(p.key)
	if err != nil {
		return "", fmt.Errorf("push: sign apns provider token: %w", err)
	}
	p.mu.token, p.mu.iat = s, now
	return s, nil
}
