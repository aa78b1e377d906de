package pushtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FCMProject is the project id of the fake's service account.
const FCMProject = "herald-test"

// FCMMessage is one message an FCMServer accepted: the HTTP v1 Message
// fields Herald sets.
type FCMMessage struct {
	Token        string            `json:"token"`
	Data         map[string]string `json:"data"`
	Notification *struct {
		Title string `json:"title"`
		Body  string `json:"body"`
	} `json:"notification"`
	Android *struct {
		TTL         string `json:"ttl"`
		CollapseKey string `json:"collapse_key"`
		Priority    string `json:"priority"`
	} `json:"android"`
	APNs *struct {
		Headers map[string]string `json:"headers"`
		Payload json.RawMessage   `json:"payload"`
	} `json:"apns"`
}

// FCMServer is a fake FCM HTTP v1 API with its OAuth2 token endpoint, and
// the service-account key file that authenticates to it.
type FCMServer struct {
	// CredentialsFile, Endpoint and TokenURL are what push.FCMConfig takes.
	CredentialsFile, Endpoint, TokenURL string

	t            testing.TB
	email        string
	key          *rsa.PrivateKey
	unregistered set
	invalid      set
	fail         failer

	mu struct {
		sync.Mutex
		tokens        map[string]bool // access token -> still valid
		tokenRequests int
		received      []FCMMessage
	}
}

// NewFCMServer starts the fake and writes a service-account JSON with a
// fresh RSA key into t.TempDir().
func NewFCMServer(t testing.TB) *FCMServer {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := &FCMServer{t: t, key: key, email: "herald@" + FCMProject + ".iam.gserviceaccount.com"}
	s.mu.tokens = make(map[string]bool)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.serveToken)
	mux.HandleFunc("POST /v1/projects/{project}/messages:send", s.serveSend)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.Endpoint, s.TokenURL = srv.URL, srv.URL+"/token"
	s.CredentialsFile = s.writeCredentials(t)
	return s
}

func (s *FCMServer) writeCredentials(t testing.TB) string {
	der, err := x509.MarshalPKCS8PrivateKey(s.key)
	if err != nil {
		t.Fatal(err)
	}
	sa, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": FCMProject, "private_key_id": randomHex(20),
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": s.email, "token_uri": s.TokenURL,
	})
	path := filepath.Join(t.TempDir(), "service-account.json")
	if err := os.WriteFile(path, sa, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Unregistered makes the service answer 404 UNREGISTERED for token.
func (s *FCMServer) Unregistered(token string) { s.unregistered.add(token) }

// InvalidToken makes the service answer 400 INVALID_ARGUMENT with a field
// violation on message.token, as for a malformed registration token.
func (s *FCMServer) InvalidToken(token string) { s.invalid.add(token) }

// FailNext answers the next n sends with status and Google's error body
// for it (429 and 503 with Retry-After: RetryAfter).
func (s *FCMServer) FailNext(n, status int) { s.fail.set(n, status) }

// RevokeTokens makes every access token issued so far answer 401.
func (s *FCMServer) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok := range s.mu.tokens {
		s.mu.tokens[tok] = false
	}
}

// TokenRequests is how many access tokens were issued.
func (s *FCMServer) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.tokenRequests
}

// Received is every message accepted so far, in order.
func (s *FCMServer) Received() []FCMMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]FCMMessage(nil), s.mu.received...)
}

// serveToken is the JWT-bearer grant: the assertion must be signed by the
// service account's key, for this token URL and the messaging scope.
func (s *FCMServer) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.FormValue("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		s.refuse(w, "grant_type %q", r.FormValue("grant_type"))
		return
	}
	if err := s.verifyAssertion(r.FormValue("assertion")); err != nil {
		s.refuse(w, "assertion: %v", err)
		return
	}
	token := "ya29." + randomHex(16)
	s.mu.Lock()
	s.mu.tokens[token] = true
	s.mu.tokenRequests++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": token, "token_type": "Bearer", "expires_in": 3599})
}

func (s *FCMServer) refuse(w http.ResponseWriter, format string, args ...any) {
	s.t.Errorf("pushtest: fcm token: "+format, args...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"refused by pushtest"}`))
}

func (s *FCMServer) verifyAssertion(assertion string) error {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(assertion, claims, func(*jwt.Token) (any, error) { return &s.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(s.TokenURL), jwt.WithIssuer(s.email),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		return err
	}
	if scope, _ := claims["scope"].(string); !strings.Contains(" "+scope+" ", " https://www.googleapis.com/auth/firebase.messaging ") {
		return fmt.Errorf("scope %q lacks firebase.messaging", scope)
	}
	if exp, _ := claims.GetExpirationTime(); time.Until(exp.Time) > time.Hour+time.Minute {
		return fmt.Errorf("exp %v more than an hour ahead", exp.Time)
	}
	return nil
}

func (s *FCMServer) serveSend(w http.ResponseWriter, r *http.Request) {
	if !s.validBearer(r.Header.Get("Authorization")) {
		writeGoogleError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "", "")
		return
	}
	if r.PathValue("project") != FCMProject {
		s.t.Errorf("pushtest: fcm: send to project %q, want %q", r.PathValue("project"), FCMProject)
		writeGoogleError(w, http.StatusForbidden, "PERMISSION_DENIED", "", "")
		return
	}
	var body struct{ Message FCMMessage }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil || body.Message.Token == "" {
		s.t.Errorf("pushtest: fcm: message without a token or not JSON: %v", err)
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "", "")
		return
	}
	if status, ok := s.fail.take(); ok {
		writeGoogleError(w, status, googleStatus(status), "", "")
		return
	}
	s.answer(w, body.Message)
}

func (s *FCMServer) answer(w http.ResponseWriter, m FCMMessage) {
	switch {
	case s.unregistered.has(m.Token):
		writeGoogleError(w, http.StatusNotFound, "NOT_FOUND", "UNREGISTERED", "")
	case s.invalid.has(m.Token):
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "message.token")
	default:
		s.mu.Lock()
		s.mu.received = append(s.mu.received, m)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"name":"projects/%s/messages/%s"}`, FCMProject, randomHex(8))
	}
}

func (s *FCMServer) validBearer(h string) bool {
	token, ok := strings.CutPrefix(h, "Bearer ")
	s.mu.Lock()
	defer s.mu.Unlock()
	return ok && s.mu.tokens[token]
}

// googleStatus is the google.rpc status FCM pairs with an HTTP status.
func googleStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusTooManyRequests:
		return "QUOTA_EXCEEDED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusInternalServerError:
		return "INTERNAL"
	default:
		return "UNKNOWN"
	}
}

// writeGoogleError writes Google's error body, with an FcmError code and a
// field violation in its details when given.
func writeGoogleError(w http.ResponseWriter, status int, rpcStatus, fcmCode, field string) {
	details := []map[string]any{}
	if fcmCode != "" {
		details = append(details, map[string]any{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcmCode})
	}
	if field != "" {
		details = append(details, map[string]any{"@type": "type.googleapis.com/google.rpc.BadRequest",
			"fieldViolations": []map[string]string{{"field": field, "description": "Invalid registration token"}}})
	}
	body, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code": status, "message": "pushtest: " + rpcStatus, "status": rpcStatus, "details": details}})
	writeFailure(w, status, "application/json", string(body))
}
