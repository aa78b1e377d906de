package wire_test

import (
	"reflect"
	"testing"

	"github.com/herald-push/herald/wire"
)

func TestWelcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                string
		session, node, user string
	}{
		{"plain", "s1", "node-a", "alice"},
		{"escaped", `s"1\`, "node\n<b>", "a@b.c"},
		{"empty", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeObject(t, wire.Welcome(tt.session, tt.node, tt.user, wire.Offset{Ms: 17, Seq: 2}))
			want := map[string]any{"type": "welcome", "session": tt.session, "node": tt.node, "user": tt.user, "offset": "17-2"}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %#v, want %#v", got, want)
			}
		})
	}
}

func TestRecovered(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		r        wire.Recipient
		complete bool
		want     map[string]any
	}{
		{"user complete", wire.User("alice"), true, map[string]any{"type": "recovered", "to": "alice", "complete": true}},
		{"user incomplete", wire.User("alice"), false, map[string]any{"type": "recovered", "to": "alice", "complete": false}},
		{"topic complete", wire.Topic("news"), true, map[string]any{"type": "recovered", "topic": "news", "complete": true}},
		{"topic incomplete", wire.Topic("a.b:c@d-e_f"), false, map[string]any{"type": "recovered", "topic": "a.b:c@d-e_f", "complete": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeObject(t, wire.Recovered(tt.r, tt.complete))
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestErrorFrame(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		e    *wire.ErrorFrame
		want map[string]any
	}{
		{
			"code and reason only",
			wire.Errorf(wire.CodeBadFrame, "missing %s", "type"),
			map[string]any{"type": "error", "code": "bad_frame", "reason": "missing type"},
		},
		{
			"with topic",
			&wire.ErrorFrame{Code: wire.CodeForbidden, Reason: "not yours", Topic: "news"},
			map[string]any{"type": "error", "code": "forbidden", "reason": "not yours", "topic": "news"},
		},
		{
			"with ref",
			&wire.ErrorFrame{Code: wire.CodeUnavailable, Reason: "retry", Ref: "r-1"},
			map[string]any{"type": "error", "code": "unavailable", "reason": "retry", "ref": "r-1"},
		},
		{
			"with both and escapes",
			&wire.ErrorFrame{Code: wire.CodeLimit, Reason: "quote \" newline \n ctl \x01", Topic: "t", Ref: `r"\`},
			map[string]any{"type": "error", "code": "limit", "reason": "quote \" newline \n ctl \x01", "topic": "t", "ref": `r"\`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeObject(t, tt.e.Bytes())
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
			if s := tt.e.Error(); s != tt.e.Code+": "+tt.e.Reason {
				t.Fatalf("Error() = %q", s)
			}
		})
	}
}

// The codes and close codes are part of the wire contract (PROTOCOL.md sections 4 and 6).
func TestContractConstants(t *testing.T) {
	t.Parallel()
	codes := map[string]string{
		wire.CodeBadFrame: "bad_frame", wire.CodeForbidden: "forbidden", wire.CodeRateLimited: "rate_limited",
	}
	for got, want := range codes {
		if got != want {
			t.Errorf("code %q, want %q", got, want)
		}
	}
	closes := []struct {
		got, want uint16
	}{
		{wire.CloseGoingAway, 1001}, {wire.CloseInternal, 1011}, {wire.CloseTokenExpired, 4001},
		{wire.ClosePolicy, 4003}, {wire.CloseSlowConsumer, 4008}, {wire.CloseTooManySessions, 4009},
	}
	for _, c := range closes {
		if c.got != c.want {
			t.Errorf("close code %d, want %d", c.got, c.want)
		}
	}
	for _, ty := range []struct{ got, want string }{
		{wire.TypeSubscribe, "subscribe"}, {wire.TypeUnsubscribe, "unsubscribe"}, {wire.TypeAck, "ack"},
		{wire.TypeSend, "send"}, {wire.TypePublish, "publish"},
	} {
		if ty.got != ty.want {
			t.Errorf("frame type %q, want %q", ty.got, ty.want)
		}
	}
}
