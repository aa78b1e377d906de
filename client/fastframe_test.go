package client

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/herald-push/herald/wire"
)

// The frames below come from the server's own encoders where they are exported,
// so that a change of the wire format shows up here as a fast path no longer taken.

func pushFrame(r wire.Recipient, id, from, data string) string {
	p := wire.Push{Recipient: r, ID: id, Offset: wire.Offset{Ms: 1700000000000, Seq: 3},
		From: from, TS: 1700000000000, Data: []byte(data)}
	return string(p.AppendFrame(nil))
}

func errorFrame(e wire.ErrorFrame) string { return string(e.Bytes()) }

// typicalData is a push payload of about 100 bytes, as a chat load test sends.
const typicalData = `{"kind":"chat","room":"general","text":"hello there, how is it going today?","seq":42,"urgent":false}`

type frameCase struct {
	name string
	line string
	fast bool // decodeFrame must take it; false: it must leave it to encoding/json
}

var serverFrames = []frameCase{
	{"push to user", pushFrame(wire.User("alice"), "1700000000000-0", "bob", `{"text":"hi"}`), true},
	{"push to topic", pushFrame(wire.Topic("news"), "m-1", "", `{"headline":"x"}`), true},
	{"push typical", pushFrame(wire.User("alice"), "1700000000000-0", "bob", typicalData), true},
	{"push nested data", pushFrame(wire.Topic("t"), "m-2", "svc",
		`{"a":[1,-2.5,3e10,-0.0e-1,1E+2,true,false,null,"s",{}],"b":{"c":{"d":[[[]]]}},"e":""}`), true},
	{"push data escapes", pushFrame(wire.User("u"), "m-3", "",
		`{"t":"line\nbreak \"q\" \\ \/ \b\f\r\t \u00e9 \uD83D\uDE00 \ud800","raw":"é✓😀"}`), true},
	{"push data string", pushFrame(wire.User("u"), "m-4", "", `"just a string"`), true},
	{"push data number", pushFrame(wire.User("u"), "m-5", "", `-12.5e-3`), true},
	{"push utf8 names", pushFrame(wire.User("zoë"), "id-✓", "björk", `{}`), true},
	{"push escaped id", pushFrame(wire.User("u"), `a"b`, "", `{}`), false},
	{"push control char from", pushFrame(wire.User("u"), "m", "a\tb", `{}`), false},
	{"recovered to complete", string(wire.Recovered(wire.User("alice"), true)), true},
	{"recovered topic incomplete", string(wire.Recovered(wire.Topic("news"), false)), true},
	{"error", errorFrame(wire.ErrorFrame{Code: wire.CodeBadFrame, Reason: "unknown type", Ref: "r1"}), true},
	{"error topic", errorFrame(wire.ErrorFrame{Code: wire.CodeForbidden, Reason: "not allowed", Topic: "secret"}), true},
	// json.Marshal writes < > & as \u003c \u003e \u0026.
	{"error html escaped", errorFrame(wire.ErrorFrame{Code: wire.CodeLimit, Reason: "subscriptions > 100"}), false},
	// As actors.sentFrame, subscribedFrame and unsubscribedFrame write them.
	{"sent", `{"type":"sent","ref":"r-17","id":"1700000000000-5"}`, true},
	{"subscribed", `{"type":"subscribed","topic":"news","offset":"1700000000000-0"}`, true},
	{"unsubscribed", `{"type":"unsubscribed","topic":"news"}`, true},
	// welcome, with its "user" (OnWelcome).
	{"welcome", string(wire.Welcome("s-1", "node-a", "alice", wire.Offset{Ms: 1700000000000, Seq: 1})), true},
}

var otherFrames = []frameCase{
	{"empty object", `{}`, true},
	{"whitespace", " \t\r\n{ \"type\" :\t\"push\" ,\n\"ts\" : 5 , \"data\" :  { \"a\" : [ 1 , 2 ] }  ,\"complete\" : true }\r\n", true},
	{"all fields", `{"type":"x","session":"s","node":"n","id":"i","offset":"o","to":"t","topic":"tp","from":"f","ts":-7,"data":[],"complete":false,"code":"c","reason":"r","ref":"rf"}`, true},
	{"empty strings", `{"type":"","id":"","data":""}`, true},
	{"duplicate keys last wins", `{"type":"a","id":"1","type":"b","data":1,"data":[2],"ts":1,"ts":2}`, true},
	{"data null", `{"type":"push","data":null}`, true},
	{"data invalid utf8 in string", "{\"data\":{\"k\":\"\xff\xfe\",\"\xc3\":1}}", true},
	{"data U+2028", "{\"data\":\"a\u2028b\"}", true},
	{"ts zero", `{"ts":0}`, true},
	{"ts minus zero", `{"ts":-0}`, true},
	{"ts max", `{"ts":9223372036854775807}`, true},
	{"ts min", `{"ts":-9223372036854775808}`, true},
	{"type unicode", `{"type":"pü✓h"}`, true},
	{"data deep", `{"data":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, true},

	{"data deeper than the fast path goes", `{"data":` + strings.Repeat(`{"a":[`, 300) + strings.Repeat("]}", 300) + `}`, false},
	{"unknown key", `{"type":"push","channel":"alice"}`, false},
	{"key case", `{"Type":"push"}`, false},
	{"key escaped", `{"ty\u0070e":"push"}`, false},
	{"key escaped quote", `{"a\"":1}`, false},
	{"string escape", `{"type":"pu\nsh"}`, false},
	{"string unicode escape", `{"id":"\u00e9"}`, false},
	{"string invalid utf8", "{\"id\":\"\xff\"}", false},
	{"string surrogate utf8", "{\"id\":\"\xed\xa0\x80\"}", false},
	{"string control char", "{\"id\":\"a\x01b\"}", false},
	{"string null", `{"type":null}`, false},
	{"ts null", `{"ts":null}`, false},
	{"complete null", `{"complete":null}`, false},
	{"type number", `{"type":1}`, false},
	{"type object", `{"type":{}}`, false},
	{"ts string", `{"ts":"5"}`, false},
	{"complete string", `{"complete":"true"}`, false},
	{"complete number", `{"complete":1}`, false},
	{"ts fraction", `{"ts":1.5}`, false},
	{"ts exponent", `{"ts":1e3}`, false},
	{"ts leading zero", `{"ts":01}`, false},
	{"ts double zero", `{"ts":00}`, false},
	{"ts plus", `{"ts":+1}`, false},
	{"ts minus only", `{"ts":-}`, false},
	{"ts overflow", `{"ts":9223372036854775808}`, false},
	{"ts underflow", `{"ts":-9223372036854775809}`, false},
	{"ts twenty digits", `{"ts":18446744073709551616}`, false},
	{"complete truex", `{"complete":truex}`, false},
	{"complete tru", `{"complete":tru}`, false},
	{"data trailing comma object", `{"data":{"a":1,}}`, false},
	{"data trailing comma array", `{"data":[1,]}`, false},
	{"data missing colon", `{"data":{"a" 1}}`, false},
	{"data bare key", `{"data":{a:1}}`, false},
	{"data bad escape", `{"data":"\x"}`, false},
	{"data bad unicode escape", `{"data":"\u12G4"}`, false},
	{"data short unicode escape", `{"data":"\u12"}`, false},
	{"data control char", "{\"data\":\"a\nb\"}", false},
	{"data leading zero", `{"data":01}`, false},
	{"data bare fraction", `{"data":1.}`, false},
	{"data bare exponent", `{"data":1e}`, false},
	{"data minus", `{"data":-}`, false},
	{"data plus", `{"data":+1}`, false},
	{"data nul", `{"data":nul}`, false},
	{"data NaN", `{"data":NaN}`, false},
	{"data unclosed", `{"data":{"a":[1}`, false},
	{"data empty", `{"data":}`, false},
	{"trailing garbage", `{"type":"push"}x`, false},
	{"trailing object", `{"type":"push"}{}`, false},
	{"trailing comma", `{"type":"push"},`, false},
	{"comma before close", `{"type":"push",}`, false},
	{"lone comma", `{,}`, false},
	{"missing colon", `{"type" "push"}`, false},
	{"missing value", `{"type":}`, false},
	{"missing comma", `{"type":"push" "id":"1"}`, false},
	{"truncated", `{"type":"push"`, false},
	{"truncated string", `{"type":"pu`, false},
	{"empty", ``, false},
	{"blank", "  \n", false},
	{"null", `null`, false},
	{"array", `[]`, false},
	{"bom", "\xef\xbb\xbf{}", false},
}

// checkDecode fails t unless decodeFrame, when it accepts line, decodes it as
// json.Unmarshal does into a zero inFrame. It reports whether it accepted.
func checkDecode(t testing.TB, line []byte) bool {
	t.Helper()
	var got inFrame
	if !decodeFrame(line, &got) {
		return false
	}
	var want inFrame
	if err := json.Unmarshal(line, &want); err != nil {
		t.Fatalf("decodeFrame took %q, json.Unmarshal fails: %v", line, err)
	}
	if !bytes.Equal(got.Data, want.Data) || (got.Data == nil) != (want.Data == nil) {
		t.Fatalf("%q: data %q, json.Unmarshal %q", line, got.Data, want.Data)
	}
	got.Data, want.Data = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %+v\nwant %+v", line, got, want)
	}
	return true
}

func TestDecodeFrame(t *testing.T) {
	for _, c := range append(serverFrames[:len(serverFrames):len(serverFrames)], otherFrames...) {
		t.Run(c.name, func(t *testing.T) {
			if fast := checkDecode(t, []byte(c.line)); fast != c.fast {
				t.Fatalf("decodeFrame(%q) = %v, want %v", c.line, fast, c.fast)
			}
		})
	}
}

// Every frame the server sends must still reach the client through either path.
func TestServerFramesDecode(t *testing.T) {
	for _, c := range serverFrames {
		var f inFrame
		if !decodeFrame([]byte(c.line), &f) {
			f = inFrame{}
			if err := json.Unmarshal([]byte(c.line), &f); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
		}
		if f.Type == "" {
			t.Fatalf("%s: no type in %+v", c.name, f)
		}
	}
}

// The line lives in a pooled buffer that is reused after frame returns.
func TestDecodeFrameKeepsNoReferenceToLine(t *testing.T) {
	line := []byte(pushFrame(wire.User("alice"), "1700000000000-0", "bob", typicalData))
	var f inFrame
	if !decodeFrame(line, &f) {
		t.Fatal("typical push not decoded")
	}
	want := f
	want.Data = bytes.Clone(f.Data)
	for i := range line {
		line[i] = 'x'
	}
	if f.ID != "1700000000000-0" || f.From != "bob" || !bytes.Equal(f.Data, want.Data) || string(f.Data) != typicalData {
		t.Fatalf("decoded frame changed with its line: %+v", f)
	}
}

// One allocation per non-empty string field but the interned type, one for data.
func TestDecodeFrameAllocs(t *testing.T) {
	line := []byte(pushFrame(wire.User("alice"), "1700000000000-0", "bob", typicalData))
	allocs := testing.AllocsPerRun(100, func() {
		var f inFrame
		if !decodeFrame(line, &f) {
			t.Fatal("typical push not decoded")
		}
	})
	if want := 5.0; allocs > want { // id, offset, to, from, data
		t.Fatalf("%v allocations, want at most %v", allocs, want)
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, c := range serverFrames {
		f.Add([]byte(c.line))
	}
	for _, c := range otherFrames {
		f.Add([]byte(c.line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		checkDecode(t, line)
	})
}

func BenchmarkDecodeFrame(b *testing.B) {
	line := []byte(pushFrame(wire.User("alice"), "1700000000000-0", "bob", typicalData))
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(line)))
		for b.Loop() {
			var f inFrame
			if !decodeFrame(line, &f) {
				b.Fatal("typical push not decoded")
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(line)))
		for b.Loop() {
			var f inFrame
			if err := json.Unmarshal(line, &f); err != nil {
				b.Fatal(err)
			}
		}
	})
}
