package wire

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
)

func TestPushTargetValidate(t *testing.T) {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256dh := base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes())
	auth := base64.RawURLEncoding.EncodeToString(make([]byte, 16))
	web := func(endpoint, p, a string) PushTarget {
		return PushTarget{Kind: KindWebPush, Endpoint: endpoint, Keys: &WebPushKeys{P256dh: p, Auth: a}}
	}
	cases := []struct {
		name      string
		t         PushTarget
		allowHTTP bool
		bad       string // a word the error must hold; empty: valid
	}{
		{"webpush", web("https://push.example/abc", p256dh, auth), false, ""},
		{"webpush padded keys", web("https://push.example/abc", p256dh+"=", auth+"=="), false, ""},
		{"webpush http refused", web("http://127.0.0.1:1/abc", p256dh, auth), false, "https"},
		{"webpush http allowed", web("http://127.0.0.1:1/abc", p256dh, auth), true, ""},
		{"webpush no keys", PushTarget{Kind: KindWebPush, Endpoint: "https://push.example/abc"}, false, "keys"},
		{"webpush short key", web("https://push.example/abc", auth, auth), false, "p256dh"},
		{"webpush short auth", web("https://push.example/abc", p256dh, p256dh), false, "auth"},
		{"webpush long endpoint", web("https://push.example/"+strings.Repeat("a", 2048), p256dh, auth), false, "at most"},
		{"fcm", PushTarget{Kind: KindFCM, Token: "abc:def"}, false, ""},
		{"fcm empty", PushTarget{Kind: KindFCM}, false, "token"},
		{"apns", PushTarget{Kind: KindAPNs, Token: "0a1b2c"}, false, ""},
		{"apns not hex", PushTarget{Kind: KindAPNs, Token: "xyz"}, false, "hex"},
		{"unknown kind", PushTarget{Kind: "sms"}, false, "unknown"},
	}
	for _, c := range cases {
		err := c.t.Validate(c.allowHTTP)
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.bad != "" && (err == nil || !strings.Contains(err.Error(), c.bad)):
			t.Errorf("%s: error %v, want one naming %q", c.name, err, c.bad)
		}
	}
}
