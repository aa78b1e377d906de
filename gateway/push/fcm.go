package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/herald-push/herald/wire"
)

const fcmDefaultEndpoint = "https://fcm.googleapis.com"

// FCMConfig says which Firebase project to send through, and as whom.
type FCMConfig struct {
	// CredentialsFile is the project's service-account JSON key.
	CredentialsFile string
	// Endpoint is the FCM base URL; empty means https://fcm.googleapis.com.
	Endpoint string
	// TokenURL is the OAuth2 token endpoint; empty means the key file's
	// token_uri, else https://oauth2.googleapis.com/token.
	TokenURL string
}

// FCM sends through Firebase Cloud Messaging's HTTP v1 API.
type FCM struct {
	sendURL string
	hc      *http.Client
	tokens  *accessTokens
	now     func() time.Time
}

// NewFCM reads the service account; hc nil uses a client with a 30 s
// timeout. No request is made until the first Send.
func NewFCM(cfg FCMConfig, hc *http.Client) (*FCM, error) {
	sa, key, err := loadServiceAccount(cfg.CredentialsFile)
	if err != nil {
		return nil, err
	}
	tokenURL := firstNonEmpty(cfg.TokenURL, sa.TokenURI, googleTokenURL)
	endpoint := strings.TrimRight(firstNonEmpty(cfg.Endpoint, fcmDefaultEndpoint), "/")
	hc = defaultClient(hc)
	return &FCM{
		sendURL: endpoint + "/v1/projects/" + sa.ProjectID + "/messages:send",
		hc:      hc,
		tokens:  newAccessTokens(hc, tokenURL, sa, key),
		now:     time.Now,
	}, nil
}

// Send posts one message; a 401 gets a fresh access token and one retry.
func (f *FCM) Send(ctx context.Context, t wire.PushTarget, n Notification) (err error) {
	if t.Kind != wire.KindFCM {
		return fmt.Errorf("push: fcm sender given a %q target", t.Kind)
	}
	if err := t.Validate(false); err != nil {
		return fmt.Errorf("push: unusable fcm target (%v): %w", err, ErrGone)
	}
	if n.Payload, err = fitFCM(n); err != nil {
		return err
	}
	body, err := json.Marshal(map[string]any{"message": f.message(t.Token, n)})
	if err != nil {
		return fmt.Errorf("push: fcm message: %w", err)
	}
	r, token, err := f.post(ctx, body, "")
	if err == nil && r.status == http.StatusUnauthorized {
		r, _, err = f.post(ctx, body, token)
	}
	if err != nil {
		return err
	}
	return f.outcome(r)
}

// post sends body with an access token other than stale.
func (f *FCM) post(ctx context.Context, body []byte, stale string) (reply, string, error) {
	token, err := f.tokens.get(ctx, stale)
	if err != nil {
		return reply{}, "", err
	}
	req, err := http.NewRequest(http.MethodPost, f.sendURL, bytes.NewReader(body))
	if err != nil {
		return reply{}, "", fmt.Errorf("push: fcm request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	r, err := roundTrip(ctx, f.hc, req)
	return r, token, err
}

// message is the HTTP v1 Message: the push frame and Data as data, the
// alert when there is one, and the collapse key and TTL for Android and,
// through FCM, for APNs.
func (f *FCM) message(token string, n Notification) map[string]any {
	data := make(map[string]string, len(n.Data)+1)
	for k, v := range n.Data {
		data[k] = v
	}
	data["push"] = string(n.Payload)
	android := map[string]any{"priority": "high", "ttl": ttlSeconds(n.TTL) + "s"}
	apnsHeaders := map[string]string{"apns-expiration": apnsExpiration(n.TTL, f.now())}
	if n.CollapseKey != "" {
		android["collapse_key"] = n.CollapseKey
		apnsHeaders["apns-collapse-id"] = apnsCollapseID(n.CollapseKey)
	}
	msg := map[string]any{"token": token, "data": data, "android": android}
	if n.Title != "" || n.Body != "" {
		msg["notification"] = map[string]string{"title": n.Title, "body": n.Body}
		apnsHeaders["apns-push-type"], apnsHeaders["apns-priority"] = "alert", "10"
		msg["apns"] = map[string]any{"headers": apnsHeaders}
	} else {
		apnsHeaders["apns-push-type"], apnsHeaders["apns-priority"] = "background", "5"
		msg["apns"] = map[string]any{"headers": apnsHeaders,
			"payload": map[string]any{"aps": map[string]any{"content-available": 1}}}
	}
	return msg
}

// fcmMaxData is FCM's limit on a message's data, keys and values.
const fcmMaxData = 4096

// fitFCM is the push frame as it fits FCM's data limit beside n.Data: as
// is when it does, else shrunk by shrinkFrame.
func fitFCM(n Notification) ([]byte, error) {
	size := len("push") + len(n.Payload)
	for k, v := range n.Data {
		size += len(k) + len(v)
	}
	if size <= fcmMaxData {
		return n.Payload, nil
	}
	small, err := shrinkFrame(n.Payload)
	if err == nil && size-len(n.Payload)+len(small) > fcmMaxData {
		err = fmt.Errorf("push: fcm data of %d bytes without the push's data: %w", size-len(n.Payload)+len(small), ErrPayloadTooLarge)
	}
	return small, err
}

// fcmError is Google's error body, with the FCM error code and field
// violations from its details.
type fcmError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			ErrorCode       string `json:"errorCode"`
			FieldViolations []struct {
				Field string `json:"field"`
			} `json:"fieldViolations"`
		} `json:"details"`
	} `json:"error"`
}

// outcome classifies FCM's answer (FCM HTTP v1 ErrorCode reference).
func (f *FCM) outcome(r reply) error {
	if r.status >= 200 && r.status < 300 {
		return nil
	}
	var e fcmError
	_ = json.Unmarshal(r.body, &e)
	code, badToken := e.Error.Status, false
	for _, d := range e.Error.Details {
		code = firstNonEmpty(d.ErrorCode, code)
		for _, v := range d.FieldViolations {
			badToken = badToken || v.Field == "message.token"
		}
	}
	reason := fmt.Sprintf("push: fcm answered %d %s: %s", r.status, code, firstNonEmpty(e.Error.Message, snippet(r.body)))
	switch {
	case code == "UNREGISTERED" || code == "SENDER_ID_MISMATCH" || r.status == http.StatusNotFound || badToken:
		return fmt.Errorf("%s: %w", reason, ErrGone)
	case retryable(r.status):
		return &RetryableError{After: retryAfter(r.header, f.now()), Err: errors.New(reason)}
	default:
		return errors.New(reason)
	}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
