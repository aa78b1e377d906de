package streams_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

const ingressID = "1700000000123-7" // its time part is the publish time

// TestParseIngress covers every rule of docs/PROTOCOL.md section 1.
func TestParseIngress(t *testing.T) {
	t.Parallel()
	const maxPayload = 64
	name128 := strings.Repeat("n", 128)
	id256 := strings.Repeat("i", 256)
	tests := []struct {
		name   string
		fields map[string]any
		reject string    // substring of the Rejection; "" when valid
		want   wire.Push // checked when valid (Frame ignored)
	}{
		// Valid entries.
		{
			name:   "to",
			fields: map[string]any{"to": "alice", "data": `{"text":"hi"}`},
			want:   wire.Push{Recipient: wire.User("alice"), ID: ingressID, TS: 1700000000123, Data: []byte(`{"text":"hi"}`)},
		},
		{
			name:   "topic",
			fields: map[string]any{"topic": "news", "data": `{"headline":"..."}`},
			want:   wire.Push{Recipient: wire.Topic("news"), ID: ingressID, TS: 1700000000123, Data: []byte(`{"headline":"..."}`)},
		},
		{
			name:   "id from ttl",
			fields: map[string]any{"to": "alice", "data": `1`, "id": "msg-42", "from": "bob", "ttl": "60"},
			want:   wire.Push{Recipient: wire.User("alice"), ID: "msg-42", From: "bob", TS: 1700000000123, Expire: 1700000000123 + 60000, Data: []byte(`1`)},
		},
		{
			name:   "ttl ten years",
			fields: map[string]any{"to": "alice", "data": `1`, "ttl": "315360000"},
			want:   wire.Push{Recipient: wire.User("alice"), ID: ingressID, TS: 1700000000123, Expire: 1700000000123 + 315360000*1000, Data: []byte(`1`)},
		},
		{
			name:   "id of 256 bytes",
			fields: map[string]any{"to": "alice", "data": `1`, "id": id256},
			want:   wire.Push{Recipient: wire.User("alice"), ID: id256, TS: 1700000000123, Data: []byte(`1`)},
		},
		{
			name:   "id with quotes and control characters",
			fields: map[string]any{"to": "alice", "data": `1`, "id": "a\"b\\c\n\x01é"},
			want:   wire.Push{Recipient: wire.User("alice"), ID: "a\"b\\c\n\x01é", TS: 1700000000123, Data: []byte(`1`)},
		},
		{
			name:   "names of 128 bytes and every allowed punctuation",
			fields: map[string]any{"to": name128, "data": `1`, "from": "a_b.c:d@e-f"},
			want:   wire.Push{Recipient: wire.User(name128), ID: ingressID, From: "a_b.c:d@e-f", TS: 1700000000123, Data: []byte(`1`)},
		},
		{
			name:   "data with newlines is compacted",
			fields: map[string]any{"to": "alice", "data": "{\n  \"a\": [1,\r\n 2],\n\t\"b\": \"x\\ny\"\n}\n"},
			want:   wire.Push{Recipient: wire.User("alice"), ID: ingressID, TS: 1700000000123, Data: []byte(`{"a":[1,2],"b":"x\ny"}`)},
		},
		{
			name:   "data with an escaped newline only is kept",
			fields: map[string]any{"to": "alice", "data": `"line\nbreak"`},
			want:   wire.Push{Recipient: wire.User("alice"), ID: ingressID, TS: 1700000000123, Data: []byte(`"line\nbreak"`)},
		},
		{
			name:   "every JSON value is a payload",
			fields: map[string]any{"topic": "t", "data": `[null,true,"s",-1.5e3,{}]`},
			want:   wire.Push{Recipient: wire.Topic("t"), ID: ingressID, TS: 1700000000123, Data: []byte(`[null,true,"s",-1.5e3,{}]`)},
		},
		{
			name:   "payload of exactly max_payload_bytes",
			fields: map[string]any{"to": "alice", "data": `"` + strings.Repeat("x", maxPayload-2) + `"`},
			want:   wire.Push{Recipient: wire.User("alice"), ID: ingressID, TS: 1700000000123, Data: []byte(`"` + strings.Repeat("x", maxPayload-2) + `"`)},
		},
		{
			name:   "unknown fields are ignored",
			fields: map[string]any{"to": "alice", "data": `1`, "priority": "high"},
			want:   wire.Push{Recipient: wire.User("alice"), ID: ingressID, TS: 1700000000123, Data: []byte(`1`)},
		},

		// Rejected entries.
		{name: "missing data", fields: map[string]any{"to": "alice"}, reject: "missing data"},
		{name: "both to and topic", fields: map[string]any{"to": "alice", "topic": "news", "data": `1`}, reject: "both to and topic"},
		{name: "both, topic empty", fields: map[string]any{"to": "alice", "topic": "", "data": `1`}, reject: "both to and topic"},
		{name: "neither to nor topic", fields: map[string]any{"data": `1`}, reject: "neither to nor topic"},
		{name: "no fields at all", fields: map[string]any{}, reject: "neither to nor topic"},
		{name: "data not JSON", fields: map[string]any{"to": "alice", "data": `{text: hi}`}, reject: "data is not JSON"},
		{name: "data empty", fields: map[string]any{"to": "alice", "data": ``}, reject: "data is not JSON"},
		{name: "data two values", fields: map[string]any{"to": "alice", "data": `1 2`}, reject: "data is not JSON"},
		{name: "data truncated", fields: map[string]any{"to": "alice", "data": `{"a":`}, reject: "data is not JSON"},
		{name: "oversize payload", fields: map[string]any{"to": "alice", "data": `"` + strings.Repeat("x", maxPayload-1) + `"`}, reject: "payload too large"},
		{name: "empty user id", fields: map[string]any{"to": "", "data": `1`}, reject: "bad user id"},
		{name: "user id with a space", fields: map[string]any{"to": "al ice", "data": `1`}, reject: "bad user id"},
		{name: "user id of 129 bytes", fields: map[string]any{"to": name128 + "n", "data": `1`}, reject: "bad user id"},
		{name: "user id with a hash tag brace", fields: map[string]any{"to": "a{b}", "data": `1`}, reject: "bad user id"},
		{name: "unicode user id", fields: map[string]any{"to": "josé", "data": `1`}, reject: "bad user id"},
		{name: "empty topic", fields: map[string]any{"topic": "", "data": `1`}, reject: "bad topic name"},
		{name: "topic with a slash", fields: map[string]any{"topic": "a/b", "data": `1`}, reject: "bad topic name"},
		{name: "empty from", fields: map[string]any{"to": "alice", "data": `1`, "from": ""}, reject: "bad from"},
		{name: "from with a space", fields: map[string]any{"to": "alice", "data": `1`, "from": "b ob"}, reject: "bad from"},
		{name: "ttl zero", fields: map[string]any{"to": "alice", "data": `1`, "ttl": "0"}, reject: "bad ttl"},
		{name: "ttl negative", fields: map[string]any{"to": "alice", "data": `1`, "ttl": "-5"}, reject: "bad ttl"},
		{name: "ttl not a number", fields: map[string]any{"to": "alice", "data": `1`, "ttl": "soon"}, reject: "bad ttl"},
		{name: "ttl with a unit", fields: map[string]any{"to": "alice", "data": `1`, "ttl": "60s"}, reject: "bad ttl"},
		{name: "ttl fractional", fields: map[string]any{"to": "alice", "data": `1`, "ttl": "1.5"}, reject: "bad ttl"},
		{name: "ttl empty", fields: map[string]any{"to": "alice", "data": `1`, "ttl": ""}, reject: "bad ttl"},
		{name: "ttl over ten years", fields: map[string]any{"to": "alice", "data": `1`, "ttl": "315360001"}, reject: "bad ttl"},
		{name: "empty id", fields: map[string]any{"to": "alice", "data": `1`, "id": ""}, reject: "bad id"},
		{name: "id of 257 bytes", fields: map[string]any{"to": "alice", "data": `1`, "id": id256 + "i"}, reject: "bad id"},
		{name: "id not UTF-8", fields: map[string]any{"to": "alice", "data": `1`, "id": "a\xffb"}, reject: "bad id"},
		// The first broken rule is reported; bad names win over bad data.
		{name: "bad name and bad data", fields: map[string]any{"to": "a b", "data": `x`}, reject: "bad user id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := streams.ParseIngress(ingressID, tt.fields, maxPayload)
			if tt.reject != "" {
				var rej streams.Rejection
				if !errors.As(err, &rej) {
					t.Fatalf("ParseIngress = %+v, %v; want a Rejection containing %q", p, err, tt.reject)
				}
				if !strings.Contains(string(rej), tt.reject) || !strings.Contains(err.Error(), tt.reject) {
					t.Fatalf("rejection %q, want it to contain %q", rej, tt.reject)
				}
				if p != nil {
					t.Fatalf("a push %+v with a rejection", p)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseIngress: %v", err)
			}
			got := *p
			if got.Frame != nil || !got.Offset.IsZero() {
				t.Fatalf("ParseIngress set Frame %q / Offset %v: the router does that after the history append", got.Frame, got.Offset)
			}
			if got.Recipient != tt.want.Recipient || got.ID != tt.want.ID || got.From != tt.want.From ||
				got.TS != tt.want.TS || got.Expire != tt.want.Expire || !bytes.Equal(got.Data, tt.want.Data) {
				t.Fatalf("ParseIngress\n got %+v (data %s)\nwant %+v (data %s)", got, got.Data, tt.want, tt.want.Data)
			}
			// Whatever was accepted makes a valid one-line push frame.
			p.Offset = wire.Offset{Ms: 1, Seq: 1}
			p.Encode()
			if !json.Valid(p.Frame) || bytes.ContainsAny(p.Frame, "\r\n") {
				t.Fatalf("frame %q is not one line of JSON", p.Frame)
			}
		})
	}
}

// The publish time is the time part of the ingress entry id.
func TestParseIngressTimestampFromEntryID(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		id string
		ts int64
	}{
		{"0-1", 0},
		{"1700000000000-0", 1700000000000},
		{"1700000000999-123", 1700000000999},
	} {
		t.Run(tt.id, func(t *testing.T) {
			p, err := streams.ParseIngress(tt.id, map[string]any{"to": "a", "data": "1", "ttl": "2"}, 10)
			if err != nil {
				t.Fatal(err)
			}
			if p.TS != tt.ts || p.ID != tt.id || p.Expire != tt.ts+2000 {
				t.Fatalf("TS %d ID %q Expire %d; want %d, %q, %d", p.TS, p.ID, p.Expire, tt.ts, tt.id, tt.ts+2000)
			}
		})
	}
}

// Non-string field values (which go-redis never produces, but a caller could pass)
// count as absent rather than crashing.
func TestParseIngressNonStringValues(t *testing.T) {
	t.Parallel()
	_, err := streams.ParseIngress(ingressID, map[string]any{"to": 5, "data": "1"}, 10)
	var rej streams.Rejection
	if !errors.As(err, &rej) {
		t.Fatalf("err %v, want a Rejection", err)
	}
	if _, err := streams.ParseIngress(ingressID, nil, 10); !errors.As(err, &rej) {
		t.Fatalf("nil fields: err %v, want a Rejection", err)
	}
}

// A push frame goes out as a WebSocket text frame, which must be UTF-8, and the
// payload must be JSON, which is UTF-8 (RFC 8259 section 8.1). json.Valid does not
// check that, so such data must be rejected at ingress.
func TestParseIngressRejectsInvalidUTF8Data(t *testing.T) {
	t.Parallel()

	for _, data := range []string{"\"\xff\"", "{\"a\":\"\xc3\x28\"}", "[\"\xed\xa0\x80\"]"} {
		p, err := streams.ParseIngress(ingressID, map[string]any{"to": "alice", "data": data}, 1024)
		if err == nil {
			p.Encode()
			t.Errorf("data %q accepted; its frame %q is valid UTF-8: %v", data, p.Frame, utf8.Valid(p.Frame))
		}
	}
}
