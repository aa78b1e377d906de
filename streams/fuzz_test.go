package streams_test

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/herald-push/herald/streams"
)

// FuzzParseIngress feeds arbitrary ingress entries to the validation every router
// runs: it must never panic, and what it accepts must make a valid push frame.
func FuzzParseIngress(f *testing.F) {
	f.Add("to", "alice", "data", `{"text":"hi"}`, "id", "m1")
	f.Add("topic", "news", "data", `[1,2,3]`, "ttl", "60")
	f.Add("to", "a b", "data", `{`, "from", "x/y")
	f.Add("data", "\"\xff\"", "to", "bob", "ttl", "-1")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		fields := map[string]any{k1: v1, k2: v2, k3: v3}
		p, err := streams.ParseIngress("1700000000000-1", fields, 64<<10)
		if err != nil {
			return
		}
		p.Encode()
		if !json.Valid(p.Frame) || !utf8.Valid(p.Frame) {
			t.Fatalf("accepted %v but its frame %q is not valid UTF-8 JSON", fields, p.Frame)
		}
		for _, c := range p.Frame {
			if c == '\n' {
				t.Fatalf("frame with a raw newline: %q", p.Frame)
			}
		}
	})
}

// Control entries come from any service that can XADD: whatever they hold,
// ParseControl answers a valid op or an error, never a panic, and a valid op
// survives its own fields.
func FuzzParseControl(f *testing.F) {
	f.Add("op", "disconnect", "user", "alice", "reconnect", "true")
	f.Add("op", "revoke", "jti", "j1", "user", "")
	f.Add("op", "revoke", "user", "bob", "issued_before", "1700000000")
	f.Add("op", "disconnect", "reason", "\xff", "session", "a b")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		fields := map[string]any{k1: v1, k2: v2, k3: v3}
		o, err := streams.ParseControl(fields)
		if err != nil {
			return
		}
		if err := o.Validate(); err != nil {
			t.Fatalf("ParseControl accepted %v, Validate refuses it: %v", fields, err)
		}
	})
}
