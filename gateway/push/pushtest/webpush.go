package pushtest

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/herald-push/herald/wire"
)

// WebPushMessage is one notification a WebPushServer accepted.
type WebPushMessage struct {
	Target  wire.PushTarget // the subscription it was sent to
	Body    []byte          // decrypted
	TTL     string
	Urgency string
	Topic   string
}

// WebPushServer is a fake browser push service on plain HTTP over loopback
// (the sender needs AllowHTTP). Its subscriptions' endpoints are
// URL+"/push/<id>".
type WebPushServer struct {
	// URL is the service's origin, the aud a VAPID token must carry.
	URL string

	t        testing.TB
	vapidKey string // base64url public key the VAPID k must be
	gone     set
	fail     failer

	mu struct {
		sync.Mutex
		subs     map[string]*subscription // by endpoint
		received []WebPushMessage
		requests int
	}
}

type subscription struct {
	target wire.PushTarget
	key    *ecdh.PrivateKey
	auth   []byte
}

// NewWebPushServer starts a push service that accepts messages signed by
// the VAPID key pair whose public key (base64url) is vapidPublicKey.
func NewWebPushServer(t testing.TB, vapidPublicKey string) *WebPushServer {
	s := &WebPushServer{t: t, vapidKey: strings.TrimRight(vapidPublicKey, "=")}
	s.mu.subs = make(map[string]*subscription)
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// NewVAPIDKeys makes a VAPID key pair, base64url as WebPushConfig takes it.
func NewVAPIDKeys(t testing.TB) (public, private string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := k.PublicKey.Bytes()
	priv, _ := k.Bytes()
	return base64.RawURLEncoding.EncodeToString(pub), base64.RawURLEncoding.EncodeToString(priv)
}

// NewSubscription is a fresh subscription on this service, as a browser's
// PushSubscription.toJSON() would give it: a new P-256 key and auth secret
// that the server keeps to decrypt what arrives.
func (s *WebPushServer) NewSubscription(t testing.TB) wire.PushTarget {
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	target := wire.PushTarget{
		Kind:     wire.KindWebPush,
		Endpoint: s.URL + "/push/" + randomHex(12),
		Keys: &wire.WebPushKeys{
			P256dh: base64.RawURLEncoding.EncodeToString(key.PublicKey().Bytes()),
			Auth:   base64.RawURLEncoding.EncodeToString(auth),
		},
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.subs[target.Endpoint] = &subscription{target: target, key: key, auth: auth}
	return target
}

// Gone makes the service answer 410 for endpoint from now on, as for an
// unsubscribed browser.
func (s *WebPushServer) Gone(endpoint string) { s.gone.add(endpoint) }

// FailNext answers the next n messages with status (429 and 503 with
// Retry-After: RetryAfter).
func (s *WebPushServer) FailNext(n, status int) { s.fail.set(n, status) }

// Received is every message accepted so far, in order.
func (s *WebPushServer) Received() []WebPushMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]WebPushMessage(nil), s.mu.received...)
}

// Requests is how many messages were posted, accepted or not.
func (s *WebPushServer) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.requests
}

func (s *WebPushServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.mu.requests++
	sub := s.mu.subs[s.URL+r.URL.Path]
	s.mu.Unlock()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if status, ok := s.fail.take(); ok {
		writeFailure(w, status, "text/plain", "failing on purpose")
		return
	}
	if r.Method != http.MethodPost || sub == nil {
		http.Error(w, "no such subscription", http.StatusNotFound)
		return
	}
	if s.gone.has(sub.target.Endpoint) {
		http.Error(w, "subscription expired", http.StatusGone)
		return
	}
	msg, status, err := s.accept(r, body, sub)
	if err != nil {
		s.t.Errorf("pushtest: webpush: %v", err)
		http.Error(w, err.Error(), status)
		return
	}
	s.mu.Lock()
	s.mu.received = append(s.mu.received, msg)
	s.mu.Unlock()
	w.Header().Set("Location", sub.target.Endpoint+"/m/"+randomHex(8))
	w.WriteHeader(http.StatusCreated)
}

// accept checks a message as a push service and browser would, and
// decrypts it.
func (s *WebPushServer) accept(r *http.Request, body []byte, sub *subscription) (WebPushMessage, int, error) {
	if err := s.verifyVAPID(r.Header.Get("Authorization")); err != nil {
		return WebPushMessage{}, http.StatusUnauthorized, err
	}
	if err := checkWebPushHeaders(r.Header); err != nil {
		return WebPushMessage{}, http.StatusBadRequest, err
	}
	if len(body) > 4096 {
		return WebPushMessage{}, http.StatusRequestEntityTooLarge, fmt.Errorf("body of %d bytes over 4096", len(body))
	}
	plain, err := decryptAES128GCM(body, sub.key, sub.auth)
	if err != nil {
		return WebPushMessage{}, http.StatusBadRequest, fmt.Errorf("decrypt: %w", err)
	}
	return WebPushMessage{Target: sub.target, Body: plain, TTL: r.Header.Get("TTL"),
		Urgency: r.Header.Get("Urgency"), Topic: r.Header.Get("Topic")}, 0, nil
}

func checkWebPushHeaders(h http.Header) error {
	if h.Get("Content-Encoding") != "aes128gcm" {
		return fmt.Errorf("Content-Encoding %q, want aes128gcm", h.Get("Content-Encoding"))
	}
	if ttl := h.Get("TTL"); ttl == "" || strings.Trim(ttl, "0123456789") != "" {
		return fmt.Errorf("TTL %q is not a number of seconds", ttl)
	}
	switch h.Get("Urgency") {
	case "", "very-low", "low", "normal", "high":
	default:
		return fmt.Errorf("Urgency %q", h.Get("Urgency"))
	}
	if topic := h.Get("Topic"); len(topic) > 32 || strings.Trim(topic, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return fmt.Errorf("Topic %q is not at most 32 base64url characters", topic)
	}
	return nil
}

// verifyVAPID checks an RFC 8292 Authorization header: k is the
// application server's key, and t is an ES256 JWT signed by it for this
// origin, expiring within 24 hours, with a mailto: or https: subject.
func (s *WebPushServer) verifyVAPID(header string) error {
	token, k, ok := parseVAPIDHeader(header)
	if !ok {
		return fmt.Errorf("authorization %q is not vapid t=..., k=...", header)
	}
	if k != s.vapidKey {
		return fmt.Errorf("vapid k %q is not the application server key %q", k, s.vapidKey)
	}
	raw, err := base64.RawURLEncoding.DecodeString(k)
	if err != nil {
		return fmt.Errorf("vapid k: %w", err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return fmt.Errorf("vapid k: %w", err)
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(s.URL), jwt.WithExpirationRequired())
	if err != nil {
		return fmt.Errorf("vapid jwt: %w", err)
	}
	return checkVAPIDClaims(claims)
}

func checkVAPIDClaims(c jwt.MapClaims) error {
	exp, _ := c.GetExpirationTime()
	if exp == nil || time.Until(exp.Time) > 24*time.Hour {
		return fmt.Errorf("vapid exp %v is more than 24 h ahead", exp)
	}
	sub, _ := c.GetSubject()
	if !strings.HasPrefix(sub, "mailto:") && !strings.HasPrefix(sub, "https:") {
		return fmt.Errorf("vapid sub %q is not mailto: or https:", sub)
	}
	return nil
}

func parseVAPIDHeader(h string) (token, key string, ok bool) {
	rest, ok := strings.CutPrefix(h, "vapid ")
	if !ok {
		return "", "", false
	}
	for part := range strings.SplitSeq(rest, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch name {
		case "t":
			token = value
		case "k":
			key = value
		}
	}
	return token, key, token != "" && key != ""
}
