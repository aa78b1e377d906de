package push

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/herald-push/herald/wire"
)

// WebPushConfig is the application server's identity towards browsers'
// push services.
type WebPushConfig struct {
	// VAPIDPublicKey and VAPIDPrivateKey are the P-256 key pair, base64url:
	// the uncompressed public point (65 bytes, the applicationServerKey
	// browsers subscribe with) and the private scalar (32 bytes).
	VAPIDPublicKey, VAPIDPrivateKey string
	// Subject is the VAPID sub claim: a mailto: or https: contact for the
	// push service's operators.
	Subject string
	// AllowHTTP accepts http:// endpoints (tests on loopback).
	AllowHTTP bool
}

// WebPush sends notifications to browsers through their push service
// (RFC 8030), the push frame encrypted for the subscription (RFC 8291) and
// the request signed with VAPID (RFC 8292).
type WebPush struct {
	cfg   WebPushConfig
	hc    *http.Client
	vapid *vapid
	now   func() time.Time
}

// NewWebPush checks cfg; hc nil uses a client with a 30 s timeout.
func NewWebPush(cfg WebPushConfig, hc *http.Client) (*WebPush, error) {
	v, err := newVAPID(cfg.VAPIDPublicKey, cfg.VAPIDPrivateKey, cfg.Subject, time.Now)
	if err != nil {
		return nil, err
	}
	return &WebPush{cfg: cfg, hc: defaultClient(hc), vapid: v, now: time.Now}, nil
}

// Send encrypts n.Payload for the subscription and posts it to its
// endpoint.
func (w *WebPush) Send(ctx context.Context, t wire.PushTarget, n Notification) error {
	if t.Kind != wire.KindWebPush {
		return fmt.Errorf("push: webpush sender given a %q target", t.Kind)
	}
	if err := t.Validate(w.cfg.AllowHTTP); err != nil {
		return fmt.Errorf("push: unusable webpush target (%v): %w", err, ErrGone)
	}
	req, err := w.request(t, n)
	if err != nil {
		return err
	}
	r, err := roundTrip(ctx, w.hc, req)
	if err != nil {
		return err
	}
	return w.outcome(req.URL.Host, r)
}

// request builds the encrypted, signed POST for one notification.
func (w *WebPush) request(t wire.PushTarget, n Notification) (*http.Request, error) {
	endpoint, err := url.Parse(t.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("push: webpush endpoint: %w", ErrGone)
	}
	plaintext, err := fitWebPush(n.Payload)
	if err != nil {
		return nil, err
	}
	uaPublic, _ := decodeB64URL(t.Keys.P256dh) // checked by Validate
	auth, _ := decodeB64URL(t.Keys.Auth)
	body, err := encryptWebPush(plaintext, uaPublic, auth)
	if err != nil {
		return nil, err
	}
	authz, err := w.vapid.authorization(endpoint)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, t.Endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("push: webpush request: %w", err)
	}
	setWebPushHeaders(req.Header, n, authz)
	return req, nil
}

// setWebPushHeaders sets RFC 8030's message headers and the VAPID
// authorization.
func setWebPushHeaders(h http.Header, n Notification, authz string) {
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Encoding", "aes128gcm")
	h.Set("TTL", ttlSeconds(n.TTL))
	h.Set("Urgency", "high")
	h.Set("Authorization", authz)
	if n.CollapseKey != "" {
		h.Set("Topic", webPushTopic(n.CollapseKey))
	}
}

// outcome classifies the push service's answer (RFC 8030 section 5 and
// what the big push services document).
func (w *WebPush) outcome(host string, r reply) error {
	switch {
	case r.status >= 200 && r.status < 300:
		return nil
	case r.status == http.StatusNotFound || r.status == http.StatusGone:
		return fmt.Errorf("push: webpush %s answered %d: %w", host, r.status, ErrGone)
	case retryable(r.status):
		return &RetryableError{After: retryAfter(r.header, w.now()),
			Err: fmt.Errorf("push: webpush %s answered %d: %s", host, r.status, snippet(r.body))}
	default:
		return fmt.Errorf("push: webpush %s refused with %d: %s", host, r.status, snippet(r.body))
	}
}

// ErrPayloadTooLarge says a notification cannot be made small enough for
// the platform even without its data.
var ErrPayloadTooLarge = errors.New("push: payload too large for the platform")

// fitWebPush returns the push frame as it fits a Web Push message: as is
// when it does, else shrunk by shrinkFrame.
func fitWebPush(frame []byte) ([]byte, error) {
	if len(frame) <= maxPlaintext {
		return frame, nil
	}
	small, err := shrinkFrame(frame)
	if err != nil {
		return nil, err
	}
	if len(small) > maxPlaintext {
		return nil, fmt.Errorf("push: %d bytes without data: %w", len(small), ErrPayloadTooLarge)
	}
	return small, nil
}

// shrinkFrame is the push frame without its data and with
// "truncated":true, for a platform whose size limit it exceeds: the app
// learns that a push came and fetches it by reconnecting.
func shrinkFrame(frame []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(frame, &m); err != nil {
		return nil, fmt.Errorf("push: payload is not a JSON object: %w", err)
	}
	delete(m, "data")
	m["truncated"] = json.RawMessage("true")
	small, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("push: shrink payload: %w", err)
	}
	return small, nil
}

// webPushTopic makes a collapse key a valid Topic (RFC 8030 section 5.4: at
// most 32 characters of the base64url alphabet): kept when it is one, else
// its hash, so that equal keys still collapse.
func webPushTopic(key string) string {
	if len(key) <= 32 && isBase64URL(key) {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return base64.RawURLEncoding.EncodeToString(sum[:24])
}

func isBase64URL(s string) bool {
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}
