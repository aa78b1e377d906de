package config

import (
	"errors"
	"fmt"
	"strings"
)

// PushFCM is Firebase Cloud Messaging's HTTP v1 API with a service account.
type PushFCM struct {
	CredentialsFile string `koanf:"credentials_file"`
	Endpoint        string `koanf:"endpoint"`
	TokenURL        string `koanf:"token_url"`
}

// PushAPNs is Apple's push service with token-based (.p8) authentication.
type PushAPNs struct {
	KeyFile  string `koanf:"key_file"`
	KeyID    string `koanf:"key_id"`
	TeamID   string `koanf:"team_id"`
	Topic    string `koanf:"topic"`
	Endpoint string `koanf:"endpoint"`
	CAFile   string `koanf:"ca_file"`
}

// Configured reports whether Web Push has its VAPID keys.
func (w PushWebPush) Configured() bool { return w.VAPIDPublicKey != "" || w.VAPIDPrivateKey != "" }

// Configured reports whether FCM has its credentials.
func (f PushFCM) Configured() bool { return f.CredentialsFile != "" }

// Configured reports whether APNs has its key.
func (a PushAPNs) Configured() bool { return a.KeyFile != "" }

// crossCheckPush: the worker needs the undelivered events (delivery.ack_timeout)
// and at least one provider, each provider whole. A node without the worker
// ignores the push keys: it sends nothing.
func crossCheckPush(c Config) []error {
	p := c.Push
	if !p.Enabled {
		return nil
	}
	var errs []error
	if c.Delivery.AckTimeout <= 0 {
		errs = append(errs, errors.New("config: push.enabled needs delivery.ack_timeout > 0: the fallback notifies the pushes no device acknowledged within it"))
	}
	if !p.WebPush.Configured() && !p.FCM.Configured() && !p.APNs.Configured() {
		errs = append(errs, errors.New("config: push.enabled needs a provider: push.webpush.vapid_public_key/vapid_private_key/subject, push.fcm.credentials_file, or push.apns.key_file/key_id/team_id/topic"))
	}
	errs = append(errs, missing("push.webpush", p.WebPush.Configured(), map[string]string{
		"vapid_public_key": p.WebPush.VAPIDPublicKey, "vapid_private_key": p.WebPush.VAPIDPrivateKey, "subject": p.WebPush.Subject})...)
	errs = append(errs, missing("push.apns", p.APNs.Configured(), map[string]string{
		"key_id": p.APNs.KeyID, "team_id": p.APNs.TeamID, "topic": p.APNs.Topic})...)
	if s := p.WebPush.Subject; s != "" && !strings.HasPrefix(s, "mailto:") && !strings.HasPrefix(s, "https:") {
		errs = append(errs, fmt.Errorf("config: push.webpush.subject: %q must be a mailto: or https: URL", s))
	}
	return errs
}

// missing lists the keys of a provider section that is partly set.
func missing(section string, on bool, keys map[string]string) []error {
	if !on {
		return nil
	}
	var errs []error
	for _, name := range []string{"vapid_public_key", "vapid_private_key", "subject", "key_id", "team_id", "topic"} {
		if v, ok := keys[name]; ok && v == "" {
			errs = append(errs, fmt.Errorf("config: %s.%s is required when %s is configured", section, name, section))
		}
	}
	return errs
}
