package push

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// OAuth2 service-account flow (RFC 7523 JWT bearer grant) as Google runs it.
const (
	fcmScope         = "https://www.googleapis.com/auth/firebase.messaging"
	googleTokenURL   = "https://oauth2.googleapis.com/token"
	jwtBearerGrant   = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	assertionLife    = time.Hour // Google's maximum
	tokenEarlyExpiry = 5 * time.Minute
)

// serviceAccount is the part of a Google service-account JSON key file the
// flow needs.
type serviceAccount struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

// loadServiceAccount reads and checks a key file and parses its RSA key.
func loadServiceAccount(path string) (serviceAccount, *rsa.PrivateKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return serviceAccount{}, nil, fmt.Errorf("push: fcm credentials: %w", err)
	}
	var sa serviceAccount
	if err := json.Unmarshal(raw, &sa); err != nil {
		return sa, nil, fmt.Errorf("push: fcm credentials %s: %w", path, err)
	}
	if sa.Type != "service_account" || sa.ProjectID == "" || sa.ClientEmail == "" {
		return sa, nil, fmt.Errorf("push: fcm credentials %s: not a service-account key with project_id and client_email", path)
	}
	key, err := pkcs8PEM([]byte(sa.PrivateKey))
	if err != nil {
		return sa, nil, fmt.Errorf("push: fcm credentials %s: private_key: %w", path, err)
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return sa, nil, fmt.Errorf("push: fcm credentials %s: private_key is a %T, not an RSA key", path, key)
	}
	return sa, rsaKey, nil
}

// accessTokens gets and caches the OAuth2 access token. One exchange runs
// at a time (sem), so a burst of sends after expiry costs one request.
type accessTokens struct {
	hc       *http.Client
	tokenURL string
	sa       serviceAccount
	key      *rsa.PrivateKey
	now      func() time.Time

	sem   chan struct{} // holds the right to read or refresh token
	token string
	exp   time.Time
}

func newAccessTokens(hc *http.Client, tokenURL string, sa serviceAccount, key *rsa.PrivateKey) *accessTokens {
	return &accessTokens{hc: hc, tokenURL: tokenURL, sa: sa, key: key, now: time.Now, sem: make(chan struct{}, 1)}
}

// get returns a valid access token, fetching one when there is none, it
// is near expiry, or it is stale (the one a 401 just refused).
func (a *accessTokens) get(ctx context.Context, stale string) (string, error) {
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		return "", &RetryableError{Err: fmt.Errorf("push: fcm access token: %w", ctx.Err())}
	}
	defer func() { <-a.sem }()
	if a.token != "" && a.token != stale && a.now().Before(a.exp) {
		return a.token, nil
	}
	token, life, err := a.exchange(ctx)
	if err != nil {
		return "", err
	}
	a.token, a.exp = token, a.now().Add(life-tokenEarlyExpiry)
	return token, nil
}

// exchange trades a signed assertion for an access token.
func (a *accessTokens) exchange(ctx context.Context) (string, time.Duration, error) {
	assertion, err := a.assertion()
	if err != nil {
		return "", 0, err
	}
	form := url.Values{"grant_type": {jwtBearerGrant}, "assertion": {assertion}}
	req, err := http.NewRequest(http.MethodPost, a.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("push: fcm token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r, err := roundTrip(ctx, a.hc, req)
	if err != nil {
		return "", 0, err
	}
	return a.parseToken(r)
}

func (a *accessTokens) parseToken(r reply) (string, time.Duration, error) {
	if retryable(r.status) {
		return "", 0, &RetryableError{After: retryAfter(r.header, a.now()),
			Err: fmt.Errorf("push: fcm token endpoint answered %d: %s", r.status, snippet(r.body))}
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if r.status != http.StatusOK || json.Unmarshal(r.body, &tok) != nil || tok.AccessToken == "" {
		return "", 0, fmt.Errorf("push: fcm token endpoint refused the service account (%d): %s", r.status, snippet(r.body))
	}
	return tok.AccessToken, time.Duration(tok.ExpiresIn) * time.Second, nil
}

// assertion is the RS256 JWT the service account signs (RFC 7523).
func (a *accessTokens) assertion() (string, error) {
	now := a.now()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": a.sa.ClientEmail, "scope": fcmScope, "aud": a.tokenURL,
		"iat": now.Unix(), "exp": now.Add(assertionLife).Unix(),
	})
	if a.sa.PrivateKeyID != "" {
		tok.Header["kid"] = a.sa.PrivateKeyID
	}
	s, err := tok.SignedString(a.key)
	if err != nil {
		return "", fmt.Errorf("push: sign fcm assertion: %w", err)
	}
	return s, nil
}
