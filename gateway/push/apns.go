package push

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/herald-push/herald/wire"
)

const (
	apnsDefaultEndpoint = "https://api.push.apple.com"
	apnsMaxBody         = 4096 // Apple's limit for a regular notification
	apnsMaxCollapseID   = 64
)

// APNsConfig is token-based (.p8) authentication towards APNs.
type APNsConfig struct {
	// KeyFile is the .p8 signing key from the Apple developer account.
	KeyFile string
	// KeyID and TeamID identify the key and the team that owns it.
	KeyID, TeamID string
	// Topic is the app's bundle id.
	Topic string
	// Endpoint is the APNs base URL; empty means Apple's production host
	// (https://api.sandbox.push.apple.com for development builds).
	Endpoint string
	// CAFile adds PEM roots to the system's (tests, TLS-inspecting proxies).
	CAFile string
}

// APNs sends through the Apple Push Notification service over HTTP/2.
type APNs struct {
	base      string
	topic     string
	hc        *http.Client
	token     *providerToken
	namespace uuid.UUID // of the apns-id derived from push ids
	now       func() time.Time
}

// NewAPNs reads the key; hc nil uses a client of its own with HTTP/2 and
// CAFile's roots. No request is made until the first Send.
func NewAPNs(cfg APNsConfig, hc *http.Client) (*APNs, error) {
	if cfg.KeyID == "" || cfg.TeamID == "" || cfg.Topic == "" {
		return nil, errors.New("push: apns needs a key id, a team id and a topic")
	}
	key, err := loadAPNsKey(cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	hc, err = apnsClient(hc, cfg.CAFile)
	if err != nil {
		return nil, err
	}
	return &APNs{
		base:      strings.TrimRight(firstNonEmpty(cfg.Endpoint, apnsDefaultEndpoint), "/"),
		topic:     cfg.Topic,
		hc:        hc,
		token:     &providerToken{key: key, keyID: cfg.KeyID, teamID: cfg.TeamID, now: time.Now},
		namespace: uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/herald-push/herald#apns-id")),
		now:       time.Now,
	}, nil
}

// apnsClient is hc, or a client of its own when hc is nil, with caFile's
// roots added; HTTP/2 is forced since APNs speaks nothing else.
func apnsClient(hc *http.Client, caFile string) (*http.Client, error) {
	if hc != nil && caFile == "" {
		return hc, nil
	}
	c := defaultClient(hc)
	base, ok := c.Transport.(*http.Transport)
	if c.Transport == nil {
		base, ok = http.DefaultTransport.(*http.Transport)
	}
	if !ok {
		return nil, errors.New("push: apns ca file needs the client's transport to be an *http.Transport")
	}
	tr := base.Clone()
	tr.ForceAttemptHTTP2 = true
	if caFile != "" {
		roots, err := withRoots(caFile)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	cc := *c
	cc.Transport = tr
	return &cc, nil
}

func withRoots(caFile string) (*x509.CertPool, error) {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("push: apns ca file: %w", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("push: apns ca file %s holds no PEM certificate", caFile)
	}
	return roots, nil
}

// Send posts one notification; an ExpiredProviderToken answer gets a new
// provider token and one retry.
func (a *APNs) Send(ctx context.Context, t wire.PushTarget, n Notification) error {
	if t.Kind != wire.KindAPNs {
		return fmt.Errorf("push: apns sender given a %q target", t.Kind)
	}
	if err := t.Validate(false); err != nil {
		return fmt.Errorf("push: unusable apns target (%v): %w", err, ErrGone)
	}
	body, err := a.body(n)
	if err != nil {
		return err
	}
	r, token, err := a.post(ctx, t.Token, n, body, "")
	if err == nil && r.status == http.StatusForbidden && apnsReason(r.body) == "ExpiredProviderToken" {
		r, _, err = a.post(ctx, t.Token, n, body, token)
	}
	if err != nil {
		return err
	}
	return a.outcome(r)
}

func (a *APNs) post(ctx context.Context, device string, n Notification, body []byte, stale string) (reply, string, error) {
	token, err := a.token.get(stale)
	if err != nil {
		return reply{}, "", err
	}
	req, err := http.NewRequest(http.MethodPost, a.base+"/3/device/"+device, bytes.NewReader(body))
	if err != nil {
		return reply{}, "", fmt.Errorf("push: apns request: %w", err)
	}
	a.setHeaders(req.Header, n)
	req.Header.Set("Authorization", "bearer "+token)
	r, err := roundTrip(ctx, a.hc, req)
	return r, token, err
}

// setHeaders sets what APNs routes and schedules by: an alert is pushed
// at once (priority 10), a data-only push is a background one (priority 5,
// which Apple requires for it).
func (a *APNs) setHeaders(h http.Header, n Notification) {
	h.Set("Content-Type", "application/json")
	h.Set("apns-topic", a.topic)
	h.Set("apns-expiration", apnsExpiration(n.TTL, a.now()))
	if alert(n) {
		h.Set("apns-push-type", "alert")
		h.Set("apns-priority", "10")
	} else {
		h.Set("apns-push-type", "background")
		h.Set("apns-priority", "5")
	}
	if n.CollapseKey != "" {
		h.Set("apns-collapse-id", apnsCollapseID(n.CollapseKey))
	}
	if n.ID != "" {
		h.Set("apns-id", uuid.NewSHA1(a.namespace, []byte(n.ID)).String())
	}
}

// body is the aps dictionary, the push frame under "push" and Data as
// custom keys; a frame too large for APNs loses its data (fitFrame).
func (a *APNs) body(n Notification) ([]byte, error) {
	b, err := apnsBody(n, n.Payload)
	if err != nil || len(b) <= apnsMaxBody {
		return b, err
	}
	small, err := shrinkFrame(n.Payload)
	if err != nil {
		return nil, err
	}
	if b, err = apnsBody(n, small); err == nil && len(b) > apnsMaxBody {
		return nil, fmt.Errorf("push: apns body of %d bytes without data: %w", len(b), ErrPayloadTooLarge)
	}
	return b, err
}

func apnsBody(n Notification, frame []byte) ([]byte, error) {
	m := make(map[string]any, len(n.Data)+2)
	for k, v := range n.Data {
		m[k] = v
	}
	if alert(n) {
		m["aps"] = map[string]any{"alert": map[string]string{"title": n.Title, "body": n.Body}}
	} else {
		m["aps"] = map[string]any{"content-available": 1}
	}
	m["push"] = json.RawMessage(frame)
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("push: apns body (is the payload JSON?): %w", err)
	}
	return b, nil
}

// outcome classifies APNs' answer (Apple's "Handling notification
// responses from APNs").
func (a *APNs) outcome(r reply) error {
	if r.status == http.StatusOK {
		return nil
	}
	reason := apnsReason(r.body)
	msg := fmt.Sprintf("push: apns answered %d %s", r.status, firstNonEmpty(reason, snippet(r.body)))
	switch {
	case r.status == http.StatusGone || reason == "BadDeviceToken" || reason == "DeviceTokenNotForTopic":
		return fmt.Errorf("%s: %w", msg, ErrGone)
	case retryable(r.status):
		return &RetryableError{After: retryAfter(r.header, a.now()), Err: errors.New(msg)}
	default:
		return errors.New(msg)
	}
}

func apnsReason(body []byte) string {
	var e struct {
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Reason
}

func alert(n Notification) bool { return n.Title != "" || n.Body != "" }

// apnsExpiration is the apns-expiration header: 0 (try once, do not
// store) for a zero TTL, else when the TTL runs out, in unix seconds.
func apnsExpiration(ttl time.Duration, now time.Time) string {
	if ttl <= 0 {
		return "0"
	}
	return strconv.FormatInt(now.Add(ttl).Unix(), 10)
}

// apnsCollapseID keeps a collapse key of at most 64 bytes and hashes a
// longer one, so that equal keys still collapse.
func apnsCollapseID(key string) string {
	if len(key) <= apnsMaxCollapseID {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
