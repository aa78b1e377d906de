package config

import (
	"strings"
	"testing"
)

func TestPushEnabledNeedsAckTimeoutAndAProvider(t *testing.T) {
	webpush := []string{"HERALD_PUSH__WEBPUSH__VAPID_PUBLIC_KEY=pub", "HERALD_PUSH__WEBPUSH__VAPID_PRIVATE_KEY=priv", "HERALD_PUSH__WEBPUSH__SUBJECT=mailto:ops@example.com"}
	tests := []struct {
		name string
		env  []string
		want []string // substrings of the error; none: loads
	}{
		{"off, nothing needed", nil, nil},
		{"no ack timeout", append([]string{"HERALD_PUSH__ENABLED=true"}, webpush...), []string{"push.enabled needs delivery.ack_timeout"}},
		{"no provider", []string{"HERALD_PUSH__ENABLED=true", "HERALD_DELIVERY__ACK_TIMEOUT=30s"}, []string{"push.enabled needs a provider", "push.fcm.credentials_file"}},
		{"web push", append([]string{"HERALD_PUSH__ENABLED=true", "HERALD_DELIVERY__ACK_TIMEOUT=30s"}, webpush...), nil},
		{"fcm", []string{"HERALD_PUSH__ENABLED=true", "HERALD_DELIVERY__ACK_TIMEOUT=30s", "HERALD_PUSH__FCM__CREDENTIALS_FILE=/sa.json"}, nil},
		{"half of apns", []string{"HERALD_PUSH__ENABLED=true", "HERALD_DELIVERY__ACK_TIMEOUT=30s", "HERALD_PUSH__APNS__KEY_FILE=/k.p8", "HERALD_PUSH__APNS__KEY_ID=K"},
			[]string{"push.apns.team_id is required", "push.apns.topic is required"}},
		{"bad subject", []string{"HERALD_PUSH__ENABLED=true", "HERALD_DELIVERY__ACK_TIMEOUT=30s", "HERALD_PUSH__WEBPUSH__VAPID_PUBLIC_KEY=p", "HERALD_PUSH__WEBPUSH__VAPID_PRIVATE_KEY=q", "HERALD_PUSH__WEBPUSH__SUBJECT=ops@example.com"},
			[]string{"push.webpush.subject"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(nil, tt.env)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded, want an error with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
