package wire_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/herald-push/herald/wire"
)

// decodeObject decodes one JSON object strictly: exactly one value, numbers kept
// exact, no duplicate keys.
func decodeObject(t testing.TB, b []byte) map[string]any {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("not valid JSON: %s", b)
	}
	if !utf8.Valid(b) {
		t.Fatalf("not valid UTF-8 (a text frame must be): %q", b)
	}
	if bytes.ContainsAny(b, "\n\r") {
		t.Fatalf("a frame must not contain a raw newline: %q", b)
	}
	checkNoDuplicateKeys(t, b)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if dec.More() {
		t.Fatalf("trailing data after the object: %s", b)
	}
	return m
}

// checkNoDuplicateKeys walks the top-level object's keys.
func checkNoDuplicateKeys(t testing.TB, b []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", b)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("token: %v in %s", err, b)
		}
		k := tok.(string)
		if seen[k] {
			t.Fatalf("duplicate key %q in %s", k, b)
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("value of %q: %v", k, err)
		}
	}
}

func TestPushAppendFrame(t *testing.T) {
	t.Parallel()
	off := wire.Offset{Ms: 1700000000123, Seq: 4}
	tests := []struct {
		name string
		p    wire.Push
		want map[string]any
	}{
		{
			name: "user without from",
			p:    wire.Push{Recipient: wire.User("alice"), ID: "1700000000000-0", Offset: off, TS: 1700000000000, Data: []byte(`{"text":"hi"}`)},
			want: map[string]any{"type": "push", "id": "1700000000000-0", "offset": "1700000000123-4", "to": "alice", "ts": json.Number("1700000000000"), "data": map[string]any{"text": "hi"}},
		},
		{
			name: "user with from",
			p:    wire.Push{Recipient: wire.User("alice"), ID: "m1", Offset: off, From: "bob", TS: 1, Data: []byte(`[1,2,3]`)},
			want: map[string]any{"type": "push", "id": "m1", "offset": "1700000000123-4", "to": "alice", "from": "bob", "ts": json.Number("1"), "data": []any{json.Number("1"), json.Number("2"), json.Number("3")}},
		},
		{
			name: "topic without from",
			p:    wire.Push{Recipient: wire.Topic("news"), ID: "n-1", Offset: wire.Offset{}, TS: 0, Data: []byte(`"headline"`)},
			want: map[string]any{"type": "push", "id": "n-1", "offset": "0-0", "topic": "news", "ts": json.Number("0"), "data": "headline"},
		},
		{
			name: "topic with from",
			p:    wire.Push{Recipient: wire.Topic("room:1"), ID: "x", Offset: off, From: "carol@example.com", TS: 99, Data: []byte(`12.5e3`)},
			want: map[string]any{"type": "push", "id": "x", "offset": "1700000000123-4", "topic": "room:1", "from": "carol@example.com", "ts": json.Number("99"), "data": json.Number("12.5e3")},
		},
		{
			name: "scalar data true",
			p:    wire.Push{Recipient: wire.User("u"), ID: "i", Offset: off, TS: 5, Data: []byte(`true`)},
			want: map[string]any{"type": "push", "id": "i", "offset": "1700000000123-4", "to": "u", "ts": json.Number("5"), "data": true},
		},
		{
			name: "null data",
			p:    wire.Push{Recipient: wire.User("u"), ID: "i", Offset: off, TS: 5, Data: []byte(`null`)},
			want: map[string]any{"type": "push", "id": "i", "offset": "1700000000123-4", "to": "u", "ts": json.Number("5"), "data": nil},
		},
		{
			name: "expire is not on the wire",
			p:    wire.Push{Recipient: wire.User("u"), ID: "i", Offset: off, TS: 5, Expire: 99999, Data: []byte(`{}`)},
			want: map[string]any{"type": "push", "id": "i", "offset": "1700000000123-4", "to": "u", "ts": json.Number("5"), "data": map[string]any{}},
		},
		{
			name: "unicode data",
			p:    wire.Push{Recipient: wire.User("u"), ID: "i", Offset: off, TS: 5, Data: []byte(`{"t":"café 😀 \u2028"}`)},
			want: map[string]any{"type": "push", "id": "i", "offset": "1700000000123-4", "to": "u", "ts": json.Number("5"), "data": map[string]any{"t": "café 😀 \u2028"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			got := decodeObject(t, p.AppendFrame(nil))
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("frame\n got %#v\nwant %#v", got, tt.want)
			}
			// AppendFrame appends: a prefix is kept.
			prefixed := p.AppendFrame([]byte("{}\n"))
			if !bytes.Equal(prefixed, append([]byte("{}\n"), p.AppendFrame(nil)...)) {
				t.Fatalf("AppendFrame does not append: %q", prefixed)
			}
			// Encode sets Frame to the same bytes.
			p.Encode()
			if !bytes.Equal(p.Frame, p.AppendFrame(nil)) {
				t.Fatalf("Encode set %q, AppendFrame gives %q", p.Frame, p.AppendFrame(nil))
			}
		})
	}
}

func TestPushFrameEscapesStrings(t *testing.T) {
	t.Parallel()
	nasty := []string{
		`he said "hi"`,
		`back\slash\`,
		"line\nbreak\r\n",
		"tab\there",
		"\x00\x01\x02\x1f",
		"\x7f",
		`</script><!--`,
		"\u2028\u2029",
		"caf\u00e9 \U0001F600",
		`"\"\\"`,
		`\u0041`,
		"",
	}
	for _, id := range nasty {
		t.Run(id, func(t *testing.T) {
			p := wire.Push{Recipient: wire.User("alice"), ID: id, Offset: wire.Offset{Ms: 1, Seq: 2}, TS: 3, Data: []byte(`1`)}
			m := decodeObject(t, p.AppendFrame(nil))
			if m["id"] != id {
				t.Fatalf("id decoded as %q, want %q", m["id"], id)
			}
			// The same rule applies to AppendString alone.
			var back string
			if err := json.Unmarshal(wire.AppendString(nil, id), &back); err != nil || back != id {
				t.Fatalf("AppendString(%q) = %s decodes to %q, %v", id, wire.AppendString(nil, id), back, err)
			}
		})
	}
}

// Every ASCII byte survives AppendString and the result has no raw control byte.
func TestAppendStringEveryASCIIByte(t *testing.T) {
	t.Parallel()
	for c := 0; c < 0x80; c++ {
		s := "a" + string(rune(c)) + "b"
		enc := wire.AppendString([]byte("x"), s)
		if enc[0] != 'x' {
			t.Fatalf("prefix lost")
		}
		enc = enc[1:]
		for _, b := range enc {
			if b < 0x20 {
				t.Fatalf("AppendString(%q) = %q keeps raw control byte %#x", s, enc, b)
			}
		}
		var back string
		if err := json.Unmarshal(enc, &back); err != nil || back != s {
			t.Fatalf("AppendString(%q) = %q decodes to %q, %v", s, enc, back, err)
		}
	}
}

func TestPushExpired(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		expire int64
		now    int64
		want   bool
	}{
		{"never", 0, 1 << 60, false},
		{"before", 1000, 999, false},
		{"at", 1000, 1000, true},
		{"after", 1000, 1001, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := wire.Push{Expire: tt.expire}
			if got := p.Expired(tt.now); got != tt.want {
				t.Fatalf("Expired(%d) with Expire %d = %v, want %v", tt.now, tt.expire, got, tt.want)
			}
		})
	}
}

func BenchmarkPushFrame(b *testing.B) {
	p := wire.Push{
		Recipient: wire.User("alice"),
		ID:        "1700000000000-0",
		Offset:    wire.Offset{Ms: 1700000000001, Seq: 0},
		From:      "bob",
		TS:        1700000000000,
		Data:      []byte(`{"text":"hello, world","n":42,"tags":["a","b"]}`),
	}
	b.Run("AppendFrame", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 256)
		for b.Loop() {
			buf = p.AppendFrame(buf[:0])
		}
		b.SetBytes(int64(len(buf)))
	})
	b.Run("Encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			q := p
			q.Encode()
		}
	})
}

var frameSink []byte

// Encode sizes Frame once: one allocation per push on the hot path.
func TestPushEncodeAllocatesOnce(t *testing.T) {

	p := wire.Push{
		Recipient: wire.User("alice"), ID: "1700000000000-0", Offset: wire.Offset{Ms: 1700000000001},
		TS: 1700000000000, Data: []byte(`{"text":"hi"}`),
	}
	allocs := testing.AllocsPerRun(100, func() {
		q := p
		q.Encode()
		frameSink = q.Frame
	})
	if allocs > 1 {
		p.Encode()
		t.Fatalf("Encode made %.0f allocations for a %d byte frame, want 1", allocs, len(p.Frame))
	}
}
