package wire

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
)

// Push target kinds, docs/PROTOCOL.md section 9.
const (
	KindWebPush = "webpush"
	KindFCM     = "fcm"
	KindAPNs    = "apns"
)

// ValidKind reports whether kind is one of the push target kinds.
func ValidKind(kind string) bool {
	return kind == KindWebPush || kind == KindFCM || kind == KindAPNs
}

// RegisteredTarget is one of a user's push targets as the targets frame lists
// it: the device and kind, when it was registered, and (server API only) the
// target itself; a device is not shown other devices' keys and tokens.
type RegisteredTarget struct {
	Device     string      `json:"device"`
	Kind       string      `json:"kind"`
	Registered int64       `json:"registered"` // unix ms
	Target     *PushTarget `json:"target,omitempty"`
}

// Bounds on a push target's fields: generous for every platform's real
// values, small enough that a client cannot store kilobytes per device.
const (
	maxEndpointLen = 2048
	maxTokenLen    = 4096
)

// PushTarget is where a platform push service reaches one device: a Web Push
// subscription (endpoint and keys), an FCM registration token or an APNs
// device token. It is carried by the register frame and stored per user and
// device.
type PushTarget struct {
	Kind     string       `json:"kind"`
	Endpoint string       `json:"endpoint,omitempty"` // webpush
	Keys     *WebPushKeys `json:"keys,omitempty"`     // webpush
	Token    string       `json:"token,omitempty"`    // fcm, apns (hex)
}

// WebPushKeys are a browser subscription's keys, base64url as the browser's
// PushSubscription.toJSON() gives them: the P-256 public key (65 bytes
// uncompressed) and the 16-byte authentication secret.
type WebPushKeys struct {
	P256dh string `json:"p256dh"`
	Auth   string `json:"auth"`
}

// Validate says what is wrong with t, or nil. allowHTTP accepts http://
// Web Push endpoints (tests on loopback); https:// is required otherwise.
func (t PushTarget) Validate(allowHTTP bool) error {
	switch t.Kind {
	case KindWebPush:
		return t.validateWebPush(allowHTTP)
	case KindFCM:
		if t.Token == "" || len(t.Token) > maxTokenLen {
			return fmt.Errorf("an fcm target needs a token of 1 to %d bytes", maxTokenLen)
		}
		return nil
	case KindAPNs:
		if _, err := hex.DecodeString(t.Token); err != nil || t.Token == "" || len(t.Token) > maxTokenLen {
			return fmt.Errorf("an apns target needs a hex device token of 1 to %d bytes", maxTokenLen)
		}
		return nil
	default:
		return fmt.Errorf("unknown target kind %q (webpush, fcm or apns)", t.Kind)
	}
}

func (t PushTarget) validateWebPush(allowHTTP bool) error {
	if len(t.Endpoint) > maxEndpointLen {
		return fmt.Errorf("a webpush endpoint is at most %d bytes", maxEndpointLen)
	}
	u, err := url.Parse(t.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && (u.Scheme != "http" || !allowHTTP)) {
		return fmt.Errorf("a webpush target needs an https endpoint")
	}
	if t.Keys == nil {
		return fmt.Errorf("a webpush target needs keys.p256dh and keys.auth")
	}
	if b, err := base64.RawURLEncoding.DecodeString(trimPad(t.Keys.P256dh)); err != nil || len(b) != 65 || b[0] != 4 {
		return fmt.Errorf("keys.p256dh must be an uncompressed P-256 point, base64url")
	}
	if b, err := base64.RawURLEncoding.DecodeString(trimPad(t.Keys.Auth)); err != nil || len(b) != 16 {
		return fmt.Errorf("keys.auth must be 16 bytes, base64url")
	}
	return nil
}

// trimPad drops base64 padding, which some browsers and libraries add.
func trimPad(s string) string {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	return s
}
