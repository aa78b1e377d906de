package pushtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// APNsMessage is one notification an APNsServer accepted.
type APNsMessage struct {
	DeviceToken string
	Header      http.Header // apns-topic, apns-push-type, apns-priority, apns-expiration, apns-collapse-id, apns-id
	Body        map[string]json.RawMessage
}

// APNsServer is a fake APNs provider API over TLS and HTTP/2, with a .p8
// signing key for it.
type APNsServer struct {
	// KeyFile, KeyID, TeamID, Topic, Endpoint and CAFile are what
	// push.APNsConfig takes.
	KeyFile, KeyID, TeamID, Topic, Endpoint, CAFile string

	t            testing.TB
	key          *ecdsa.PrivateKey
	badToken     set
	unregistered set
	expired      set // provider tokens the server calls expired
	fail         failer

	mu struct {
		sync.Mutex
		tokens   map[string]bool // distinct provider tokens seen
		received []APNsMessage
	}
}

// NewAPNsServer starts the fake on TLS with HTTP/2 and writes its
// signing key and certificate into t.TempDir().
func NewAPNsServer(t testing.TB) *APNsServer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := &APNsServer{t: t, key: key, KeyID: "K3Y1D00001", TeamID: "T3AM1D0001", Topic: "com.example.herald"}
	s.mu.tokens = make(map[string]bool)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s.Endpoint = srv.URL
	dir := t.TempDir()
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	s.KeyFile = writePEM(t, filepath.Join(dir, "AuthKey_"+s.KeyID+".p8"), "PRIVATE KEY", der)
	s.CAFile = writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", srv.Certificate().Raw)
	return s
}

func writePEM(t testing.TB, path, typ string, der []byte) string {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// BadDeviceToken makes the service answer 400 BadDeviceToken for token.
func (s *APNsServer) BadDeviceToken(token string) { s.badToken.add(token) }

// Unregistered makes the service answer 410 Unregistered for token.
func (s *APNsServer) Unregistered(token string) { s.unregistered.add(token) }

// FailNext answers the next n notifications with status (429 and 503
// with Retry-After: RetryAfter).
func (s *APNsServer) FailNext(n, status int) { s.fail.set(n, status) }

// ExpireTokens makes every provider token seen so far answer 403
// ExpiredProviderToken.
func (s *APNsServer) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok := range s.mu.tokens {
		s.expired.add(tok)
	}
}

// ProviderTokens is how many distinct provider tokens were used.
func (s *APNsServer) ProviderTokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.tokens)
}

// Received is every notification accepted so far, in order.
func (s *APNsServer) Received() []APNsMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]APNsMessage(nil), s.mu.received...)
}

func (s *APNsServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	device, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	if r.Method != http.MethodPost || !ok {
		s.reject(w, http.StatusNotFound, "BadPath", "%s %s", r.Method, r.URL.Path)
		return
	}
	if r.ProtoMajor != 2 {
		s.reject(w, http.StatusBadRequest, "BadProtocol", "APNs needs HTTP/2, got %s", r.Proto)
		return
	}
	if status, reason, ok := s.authenticate(r.Header.Get("Authorization")); !ok {
		writeAPNsError(w, status, reason)
		return
	}
	msg, err := s.check(device, r.Header, body)
	if err != nil {
		s.reject(w, http.StatusBadRequest, "BadRequest", "%v", err)
		return
	}
	s.answer(w, msg)
}

func (s *APNsServer) answer(w http.ResponseWriter, msg APNsMessage) {
	if status, ok := s.fail.take(); ok {
		writeAPNsError(w, status, apnsReasonFor(status))
		return
	}
	switch {
	case s.badToken.has(msg.DeviceToken):
		writeAPNsError(w, http.StatusBadRequest, "BadDeviceToken")
	case s.unregistered.has(msg.DeviceToken):
		writeAPNsError(w, http.StatusGone, "Unregistered")
	default:
		s.mu.Lock()
		s.mu.received = append(s.mu.received, msg)
		s.mu.Unlock()
		w.Header().Set("apns-id", msg.Header.Get("apns-id"))
		w.WriteHeader(http.StatusOK)
	}
}

// authenticate verifies the provider token: ES256 by this key, kid the key
// id, iss the team, iat within the last hour.
func (s *APNsServer) authenticate(h string) (int, string, bool) {
	token, ok := strings.CutPrefix(h, "bearer ")
	if !ok {
		s.t.Errorf("pushtest: apns: authorization %q is not a bearer token", h)
		return http.StatusForbidden, "MissingProviderToken", false
	}
	if s.expired.has(token) {
		return http.StatusForbidden, "ExpiredProviderToken", false
	}
	if err := s.verifyToken(token); err != nil {
		s.t.Errorf("pushtest: apns: provider token: %v", err)
		return http.StatusForbidden, "InvalidProviderToken", false
	}
	s.mu.Lock()
	s.mu.tokens[token] = true
	s.mu.Unlock()
	return 0, "", true
}

func (s *APNsServer) verifyToken(token string) error {
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return &s.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(s.TeamID), jwt.WithIssuedAt())
	if err != nil {
		return err
	}
	if kid, _ := parsed.Header["kid"].(string); kid != s.KeyID {
		return fmt.Errorf("kid %q, want %q", kid, s.KeyID)
	}
	iat, _ := claims.GetIssuedAt()
	if iat == nil || time.Since(iat.Time) > time.Hour {
		return fmt.Errorf("iat %v missing or over an hour old", iat)
	}
	return nil
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// check verifies what APNs would refuse as a malformed request.
func (s *APNsServer) check(device string, h http.Header, body []byte) (APNsMessage, error) {
	msg := APNsMessage{DeviceToken: device, Header: h.Clone()}
	if _, err := hex.DecodeString(device); err != nil || device == "" {
		return msg, fmt.Errorf("device token %q is not hex", device)
	}
	if h.Get("apns-topic") != s.Topic {
		return msg, fmt.Errorf("apns-topic %q, want %q", h.Get("apns-topic"), s.Topic)
	}
	if id := h.Get("apns-id"); id != "" && !uuidPattern.MatchString(id) {
		return msg, fmt.Errorf("apns-id %q is not a UUID", id)
	}
	if len(h.Get("apns-collapse-id")) > 64 {
		return msg, fmt.Errorf("apns-collapse-id over 64 bytes")
	}
	if _, err := strconv.ParseInt(h.Get("apns-expiration"), 10, 64); err != nil && h.Get("apns-expiration") != "" {
		return msg, fmt.Errorf("apns-expiration %q", h.Get("apns-expiration"))
	}
	if len(body) > 4096 {
		return msg, fmt.Errorf("payload of %d bytes over 4096", len(body))
	}
	if err := json.Unmarshal(body, &msg.Body); err != nil {
		return msg, fmt.Errorf("payload is not a JSON object: %v", err)
	}
	return msg, checkPushType(h, msg.Body["aps"])
}

// checkPushType: an alert has an alert and any priority; a background push
// has content-available and priority 5, as Apple requires.
func checkPushType(h http.Header, aps json.RawMessage) error {
	var a struct {
		Alert            json.RawMessage `json:"alert"`
		ContentAvailable int             `json:"content-available"`
	}
	if err := json.Unmarshal(aps, &a); err != nil {
		return fmt.Errorf("aps %s: %v", aps, err)
	}
	switch pt, prio := h.Get("apns-push-type"), h.Get("apns-priority"); {
	case pt == "alert" && a.Alert != nil && (prio == "10" || prio == "5" || prio == ""):
		return nil
	case pt == "background" && a.ContentAvailable == 1 && a.Alert == nil && prio == "5":
		return nil
	default:
		return fmt.Errorf("apns-push-type %q with apns-priority %q and aps %s", pt, prio, aps)
	}
}

func (s *APNsServer) reject(w http.ResponseWriter, status int, reason, format string, args ...any) {
	s.t.Errorf("pushtest: apns: "+format, args...)
	writeAPNsError(w, status, reason)
}

func apnsReasonFor(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "TooManyRequests"
	case http.StatusInternalServerError:
		return "InternalServerError"
	case http.StatusServiceUnavailable:
		return "ServiceUnavailable"
	case http.StatusRequestEntityTooLarge:
		return "PayloadTooLarge"
	default:
		return "BadRequest"
	}
}

func writeAPNsError(w http.ResponseWriter, status int, reason string) {
	body, _ := json.Marshal(map[string]any{"reason": reason})
	if status == http.StatusGone {
		body, _ = json.Marshal(map[string]any{"reason": reason, "timestamp": time.Now().UnixMilli()})
	}
	writeFailure(w, status, "application/json", string(body))
}
