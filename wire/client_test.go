package wire_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/herald-push/herald/wire"
)

// testP256dh is a valid P-256 public key, uncompressed, base64url.
const testP256dh = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"

func TestDecodeClientFrameValid(t *testing.T) {
	t.Parallel()
	ref128 := strings.Repeat("r", 128)
	tests := []struct {
		name string
		in   string
		want wire.ClientFrame
	}{
		{"subscribe", `{"type":"subscribe","topic":"news"}`, wire.ClientFrame{Type: "subscribe", Topic: "news"}},
		{"subscribe since", `{"type":"subscribe","topic":"news","since":"1700000000000-3"}`, wire.ClientFrame{Type: "subscribe", Topic: "news", Since: "1700000000000-3"}},
		{"subscribe since bare ms", `{"type":"subscribe","topic":"news","since":"17"}`, wire.ClientFrame{Type: "subscribe", Topic: "news", Since: "17"}},
		{"unsubscribe", `{"type":"unsubscribe","topic":"a.b:c@d-e_f"}`, wire.ClientFrame{Type: "unsubscribe", Topic: "a.b:c@d-e_f"}},
		{"ack", `{"type":"ack","offset":"1700000000000-0"}`, wire.ClientFrame{Type: "ack", Offset: "1700000000000-0"}},
		{"ack topic", `{"type":"ack","offset":"5-1","topic":"news"}`, wire.ClientFrame{Type: "ack", Offset: "5-1", Topic: "news"}},
		{"send object", `{"type":"send","ref":"c1","data":{"a":1}}`, wire.ClientFrame{Type: "send", Ref: "c1", Data: json.RawMessage(`{"a":1}`)}},
		{"send string", `{"type":"send","ref":"c1","data":"hi"}`, wire.ClientFrame{Type: "send", Ref: "c1", Data: json.RawMessage(`"hi"`)}},
		{"send number", `{"type":"send","ref":"c1","data":0}`, wire.ClientFrame{Type: "send", Ref: "c1", Data: json.RawMessage(`0`)}},
		{"send false", `{"type":"send","ref":"c1","data":false}`, wire.ClientFrame{Type: "send", Ref: "c1", Data: json.RawMessage(`false`)}},
		{"send empty object", `{"type":"send","ref":"c1","data":{}}`, wire.ClientFrame{Type: "send", Ref: "c1", Data: json.RawMessage(`{}`)}},
		{"send ref 128 bytes", `{"type":"send","ref":"` + ref128 + `","data":[1]}`, wire.ClientFrame{Type: "send", Ref: ref128, Data: json.RawMessage(`[1]`)}},
		{"publish", `{"type":"publish","topic":"room1","ref":"p1","data":{"t":"x"}}`, wire.ClientFrame{Type: "publish", Topic: "room1", Ref: "p1", Data: json.RawMessage(`{"t":"x"}`)}},
		{"surrounding whitespace", " \t\r\n{\"type\":\"ack\",\"offset\":\"1-1\"}\n ", wire.ClientFrame{Type: "ack", Offset: "1-1"}},
		{"unknown fields ignored", `{"type":"ack","offset":"1-1","extra":{"x":[1,2]}}`, wire.ClientFrame{Type: "ack", Offset: "1-1"}},
		{"field order free", `{"offset":"2-2","type":"ack"}`, wire.ClientFrame{Type: "ack", Offset: "2-2"}},
		{"register webpush", `{"type":"register","ref":"r1","target":{"kind":"webpush","endpoint":"https://push.example/x","keys":{"p256dh":"` + testP256dh + `","auth":"AAAAAAAAAAAAAAAAAAAAAA"}}}`,
			wire.ClientFrame{Type: "register", Ref: "r1", Target: &wire.PushTarget{Kind: "webpush", Endpoint: "https://push.example/x", Keys: &wire.WebPushKeys{P256dh: testP256dh, Auth: "AAAAAAAAAAAAAAAAAAAAAA"}}}},
		{"register webpush http (the session checks the scheme)", `{"type":"register","ref":"r1","target":{"kind":"webpush","endpoint":"http://127.0.0.1:9/x","keys":{"p256dh":"` + testP256dh + `","auth":"AAAAAAAAAAAAAAAAAAAAAA"}}}`,
			wire.ClientFrame{Type: "register", Ref: "r1", Target: &wire.PushTarget{Kind: "webpush", Endpoint: "http://127.0.0.1:9/x", Keys: &wire.WebPushKeys{P256dh: testP256dh, Auth: "AAAAAAAAAAAAAAAAAAAAAA"}}}},
		{"register fcm", `{"type":"register","ref":"r2","target":{"kind":"fcm","token":"abc:123"}}`, wire.ClientFrame{Type: "register", Ref: "r2", Target: &wire.PushTarget{Kind: "fcm", Token: "abc:123"}}},
		{"register apns", `{"type":"register","ref":"r3","target":{"kind":"apns","token":"0aff"}}`, wire.ClientFrame{Type: "register", Ref: "r3", Target: &wire.PushTarget{Kind: "apns", Token: "0aff"}}},
		{"register target's unknown fields ignored", `{"type":"register","ref":"r3","target":{"kind":"fcm","token":"t","expirationTime":null}}`, wire.ClientFrame{Type: "register", Ref: "r3", Target: &wire.PushTarget{Kind: "fcm", Token: "t"}}},
		{"unregister", `{"type":"unregister","ref":"r4","kind":"webpush"}`, wire.ClientFrame{Type: "unregister", Ref: "r4", Kind: "webpush"}},
		{"targets", `{"type":"targets","ref":"r5"}`, wire.ClientFrame{Type: "targets", Ref: "r5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, e := wire.DecodeClientFrame([]byte(tt.in))
			if e != nil {
				t.Fatalf("DecodeClientFrame(%s) error %v", tt.in, e)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("DecodeClientFrame(%s)\n got %#v\nwant %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecodeClientFrameInvalid(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("r", 129)
	tests := []struct {
		name      string
		in        string
		wantRef   string
		wantTopic string
		reason    string // a substring of the reason, "" to not check
	}{
		{"empty", ``, "", "", "one JSON object"},
		{"blank", " \n\t ", "", "", "one JSON object"},
		{"not JSON", `hello`, "", "", "one JSON object"},
		{"array", `[{"type":"ack","offset":"1-1"}]`, "", "", "one JSON object"},
		{"string", `"ack"`, "", "", "one JSON object"},
		{"number", `42`, "", "", "one JSON object"},
		{"null", `null`, "", "", "one JSON object"},
		{"truncated", `{"type":"ack","offset":"1-1"`, "", "", "not a JSON frame"},
		{"trailing garbage", `{"type":"ack","offset":"1-1"} x`, "", "", "not a JSON frame"},
		{"two objects", `{"type":"ack","offset":"1-1"}{"type":"ack","offset":"1-2"}`, "", "", "not a JSON frame"},
		{"type not a string", `{"type":5}`, "", "", "not a JSON frame"},
		{"topic not a string", `{"type":"subscribe","topic":["news"]}`, "", "", "not a JSON frame"},
		{"missing type", `{"topic":"news"}`, "", "news", "missing type"},
		{"empty type", `{"type":"","ref":"r1"}`, "r1", "", "missing type"},
		{"unknown type", `{"type":"shout","ref":"r2"}`, "r2", "", `unknown frame type "shout"`},
		{"type case matters", `{"type":"ACK","offset":"1-1"}`, "", "", "unknown frame type"},
		{"ack without offset", `{"type":"ack"}`, "", "", "ack needs an offset"},
		{"ack empty offset", `{"type":"ack","offset":""}`, "", "", "ack needs an offset"},
		{"ack bad offset", `{"type":"ack","offset":"yesterday"}`, "", "", "ack needs an offset"},
		{"ack bad offset keeps topic", `{"type":"ack","offset":"1-x","topic":"news"}`, "", "news", "ack needs an offset"},
		{"ack bad topic", `{"type":"ack","offset":"1-1","topic":"bad topic"}`, "", "", "bad topic name"},
		{"subscribe without topic", `{"type":"subscribe"}`, "", "", "subscribe needs a topic"},
		{"subscribe bad topic", `{"type":"subscribe","topic":"a/b"}`, "", "", "subscribe needs a topic"},
		{"subscribe topic too long", `{"type":"subscribe","topic":"` + strings.Repeat("t", 129) + `"}`, "", "", "subscribe needs a topic"},
		{"subscribe bad since keeps topic", `{"type":"subscribe","topic":"news","since":"x"}`, "", "news", "since is not an offset"},
		{"unsubscribe without topic", `{"type":"unsubscribe"}`, "", "", "unsubscribe needs a topic"},
		{"send without ref", `{"type":"send","data":{}}`, "", "", "send needs a ref"},
		{"send empty ref", `{"type":"send","ref":"","data":{}}`, "", "", "send needs a ref"},
		{"send without data", `{"type":"send","ref":"r3"}`, "r3", "", "send needs data"},
		{"send null data", `{"type":"send","ref":"r4","data":null}`, "r4", "", "send needs data"},
		{"send ref too long", `{"type":"send","ref":"` + long + `","data":1}`, "", "", "send needs a ref of 1 to 128 bytes"},
		{"send bad data", `{"type":"send","ref":"r5","data":{x}}`, "", "", "not a JSON frame"},
		{"publish without topic", `{"type":"publish","ref":"r6","data":{}}`, "r6", "", "publish needs a topic"},
		{"publish bad topic", `{"type":"publish","topic":"a b","ref":"r7","data":{}}`, "r7", "", "publish needs a topic"},
		{"publish without ref", `{"type":"publish","topic":"room1","data":{}}`, "", "room1", "publish needs a ref"},
		{"publish without data", `{"type":"publish","topic":"room1","ref":"r8"}`, "r8", "room1", "publish needs data"},
		{"publish ref too long", `{"type":"publish","topic":"room1","ref":"` + long + `","data":1}`, "", "room1", "publish needs a ref"},
		{"register without ref", `{"type":"register","target":{"kind":"fcm","token":"t"}}`, "", "", "register needs a ref"},
		{"register without target", `{"type":"register","ref":"r1"}`, "r1", "", "register needs a target"},
		{"register null target", `{"type":"register","ref":"r1","target":null}`, "r1", "", "register needs a target"},
		{"register target not an object", `{"type":"register","ref":"r1","target":"fcm:t"}`, "", "", "not a JSON frame"},
		{"register unknown kind", `{"type":"register","ref":"r1","target":{"kind":"sms","token":"t"}}`, "r1", "", `bad target: unknown target kind "sms"`},
		{"register fcm without token", `{"type":"register","ref":"r1","target":{"kind":"fcm"}}`, "r1", "", "bad target: an fcm target needs a token"},
		{"register apns not hex", `{"type":"register","ref":"r1","target":{"kind":"apns","token":"zz"}}`, "r1", "", "hex"},
		{"register webpush no keys", `{"type":"register","ref":"r1","target":{"kind":"webpush","endpoint":"https://push.example/x"}}`, "r1", "", "keys"},
		{"register webpush bad endpoint", `{"type":"register","ref":"r1","target":{"kind":"webpush","endpoint":"ftp://x/y","keys":{"p256dh":"` + testP256dh + `","auth":"AAAAAAAAAAAAAAAAAAAAAA"}}}`, "r1", "", "https endpoint"},
		{"register webpush short auth", `{"type":"register","ref":"r1","target":{"kind":"webpush","endpoint":"https://push.example/x","keys":{"p256dh":"` + testP256dh + `","auth":"AAAA"}}}`, "r1", "", "keys.auth"},
		{"unregister without kind", `{"type":"unregister","ref":"r2"}`, "r2", "", "unregister needs a kind"},
		{"unregister unknown kind", `{"type":"unregister","ref":"r2","kind":"sms"}`, "r2", "", "unregister needs a kind"},
		{"unregister without ref", `{"type":"unregister","kind":"fcm"}`, "", "", "unregister needs a ref"},
		{"targets without ref", `{"type":"targets"}`, "", "", "targets needs a ref"},
		{"targets ref too long", `{"type":"targets","ref":"` + long + `"}`, "", "", "targets needs a ref"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, e := wire.DecodeClientFrame([]byte(tt.in))
			if e == nil {
				t.Fatalf("DecodeClientFrame(%s) = %#v, want an error", tt.in, f)
			}
			if !reflect.DeepEqual(f, wire.ClientFrame{}) {
				t.Fatalf("DecodeClientFrame(%s) returned %#v with an error; want the zero frame", tt.in, f)
			}
			if e.Code != wire.CodeBadFrame {
				t.Fatalf("code %q, want bad_frame", e.Code)
			}
			if e.Ref != tt.wantRef || e.Topic != tt.wantTopic {
				t.Fatalf("error ref %q topic %q, want ref %q topic %q", e.Ref, e.Topic, tt.wantRef, tt.wantTopic)
			}
			if !strings.Contains(e.Reason, tt.reason) {
				t.Fatalf("reason %q does not contain %q", e.Reason, tt.reason)
			}
			// The error frame is ready to send: a valid error object.
			m := decodeObject(t, e.Bytes())
			if m["type"] != "error" || m["code"] != wire.CodeBadFrame || m["reason"] != e.Reason {
				t.Fatalf("error frame %v", m)
			}
			if len(e.Reason) > 200 {
				t.Fatalf("reason of %d bytes is not bounded", len(e.Reason))
			}
		})
	}
}

// A long unknown type or a long parse error does not produce an unbounded reason.
func TestDecodeClientFrameReasonBounded(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{"type":"` + strings.Repeat("x", 10000) + `"}`,
		`{"type":"ack","offset":` + strings.Repeat("9", 10000) + `x}`,
	} {
		_, e := wire.DecodeClientFrame([]byte(in))
		if e == nil {
			t.Fatalf("no error for %.40s...", in)
		}
		if len(e.Reason) > 200 {
			t.Fatalf("reason of %d bytes: %.80s...", len(e.Reason), e.Reason)
		}
		decodeObject(t, e.Bytes())
	}
}

// checkDecoded asserts what DecodeClientFrame promises about any input.
func checkDecoded(t *testing.T, in []byte, f wire.ClientFrame, e *wire.ErrorFrame) {
	t.Helper()
	if e != nil {
		if e.Code != wire.CodeBadFrame {
			t.Fatalf("code %q for %q", e.Code, in)
		}
		if len(e.Ref) > wire.MaxRefLen {
			t.Fatalf("error carries a ref of %d bytes", len(e.Ref))
		}
		if e.Topic != "" && wire.ValidName(e.Topic) != nil {
			t.Fatalf("error carries an invalid topic %q", e.Topic)
		}
		if !reflect.DeepEqual(f, wire.ClientFrame{}) {
			t.Fatalf("non-zero frame %#v with an error", f)
		}
		b := e.Bytes()
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil || m["type"] != "error" {
			t.Fatalf("error frame %q: %v", b, err)
		}
		return
	}
	switch f.Type {
	case wire.TypeAck:
		if _, err := wire.ParseOffset(f.Offset); err != nil {
			t.Fatalf("ack with offset %q accepted", f.Offset)
		}
		if f.Topic != "" && wire.ValidName(f.Topic) != nil {
			t.Fatalf("ack with topic %q accepted", f.Topic)
		}
	case wire.TypeSubscribe, wire.TypeUnsubscribe:
		if wire.ValidName(f.Topic) != nil {
			t.Fatalf("%s with topic %q accepted", f.Type, f.Topic)
		}
		if f.Since != "" {
			if _, err := wire.ParseOffset(f.Since); err != nil {
				t.Fatalf("since %q accepted", f.Since)
			}
		}
	case wire.TypeSend, wire.TypePublish:
		if f.Ref == "" || len(f.Ref) > wire.MaxRefLen {
			t.Fatalf("%s with ref of %d bytes accepted", f.Type, len(f.Ref))
		}
		if !json.Valid(f.Data) || string(f.Data) == "null" {
			t.Fatalf("%s with data %q accepted", f.Type, f.Data)
		}
		if f.Type == wire.TypePublish && wire.ValidName(f.Topic) != nil {
			t.Fatalf("publish with topic %q accepted", f.Topic)
		}
	case wire.TypeRegister, wire.TypeUnregister, wire.TypeTargets:
		if f.Ref == "" || len(f.Ref) > wire.MaxRefLen {
			t.Fatalf("%s with ref of %d bytes accepted", f.Type, len(f.Ref))
		}
		if f.Type == wire.TypeRegister && (f.Target == nil || f.Target.Validate(true) != nil) {
			t.Fatalf("register with target %+v accepted", f.Target)
		}
		if f.Type == wire.TypeUnregister && !wire.ValidKind(f.Kind) {
			t.Fatalf("unregister with kind %q accepted", f.Kind)
		}
	default:
		t.Fatalf("DecodeClientFrame(%q) accepted unknown type %q", in, f.Type)
	}
}

// The seed corpus is in testdata/fuzz/FuzzDecodeClientFrame; f.Add adds the frames of
// the tests above.
func FuzzDecodeClientFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"subscribe","topic":"news","since":"1-0"}`,
		`{"type":"unsubscribe","topic":"news"}`,
		`{"type":"ack","offset":"1700000000000-0","topic":"news"}`,
		`{"type":"send","ref":"c1","data":{"a":[1,2,{"b":null}]}}`,
		`{"type":"publish","topic":"room1","ref":"p1","data":"x"}`,
		`{"type":"send","ref":"c1","data":null}`,
		`{"type":5}`,
		`[]`,
		``,
		"{\"type\":\"\xff\"}",
		`{"type":"register","ref":"r1","target":{"kind":"webpush","endpoint":"https://push.example/x","keys":{"p256dh":"` + testP256dh + `","auth":"AAAAAAAAAAAAAAAAAAAAAA"}}}`,
		`{"type":"register","ref":"r2","target":{"kind":"apns","token":"0aff"}}`,
		`{"type":"register","ref":"r3","target":{"kind":"fcm"}}`,
		`{"type":"unregister","ref":"r4","kind":"fcm"}`,
		`{"type":"targets","ref":"r5"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		f, e := wire.DecodeClientFrame(in)
		checkDecoded(t, in, f, e)
	})
}
