package bench

import (
	"encoding/json"
	"testing"
)

func TestPayloadRoundTrip(t *testing.T) {
	for _, size := range []int{40, 100, 1000} {
		b := appendPayload(nil, 123456789, 1700000000123456789, false, size)
		if len(b) < size-2 || len(b) > size+2 && size > 60 {
			t.Errorf("size %d: payload is %d bytes: %s", size, len(b), b)
		}
		p, ok := parsePayload(b)
		if !ok || p.N != 123456789 || p.T != 1700000000123456789 || p.Warm {
			t.Errorf("parse %s = %+v %v", b, p, ok)
		}
	}
	w, ok := parsePayload(appendPayload(nil, 0, 5, true, 50))
	if !ok || !w.Warm {
		t.Errorf("warm payload: %+v %v", w, ok)
	}
	// A server that reformats the JSON still parses.
	p, ok := parsePayload([]byte(`{ "t": 7, "n": 3, "p": "x" }`))
	if !ok || p.N != 3 || p.T != 7 {
		t.Errorf("reformatted payload: %+v %v", p, ok)
	}
	if _, ok := parsePayload([]byte(`{"text":"hi"}`)); ok {
		t.Error("a foreign payload parsed")
	}
}

// The payload is valid JSON of exactly the configured size once that size holds
// the fixed fields, and appendPayload appends to what dst holds.
func TestPayloadSizeAndJSON(t *testing.T) {
	for _, size := range []int{60, 100, 256, 4096} {
		b := appendPayload([]byte("prefix"), 42, 1700000000000000000, size%2 == 0, size)
		if string(b[:6]) != "prefix" || len(b)-6 != size {
			t.Errorf("size %d: %d bytes after the prefix", size, len(b)-6)
		}
		var v struct {
			N int64  `json:"n"`
			T int64  `json:"t"`
			W int    `json:"w"`
			P string `json:"p"`
		}
		if err := json.Unmarshal(b[6:], &v); err != nil || v.N != 42 || v.T != 1700000000000000000 || v.W != size%2^1 {
			t.Errorf("size %d: %s: %+v %v", size, b[6:], v, err)
		}
	}
	// Too small a size: no padding, the fields whole.
	if b := appendPayload(nil, 1, 2, false, 10); string(b) != `{"n":1,"t":2,"w":0,"p":""}` {
		t.Errorf("tiny payload %s", b)
	}
}

func TestParsePayloadEdges(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want payload
		ok   bool
	}{
		{`{"n":-5,"t":-7,"w":1,"p":""}`, payload{N: -5, T: -7, Warm: true}, true},
		{`{"n":12,"t":34,"w":0}`, payload{N: 12, T: 34}, true},
		{`{"n":12,"t":34}`, payload{N: 12, T: 34}, true}, // no w: the JSON decoder
		{`{"n":12}`, payload{}, false},
		{`{"t":1}`, payload{}, false},
		{`{"n":x,"t":1}`, payload{}, false},
		{``, payload{}, false},
		{`{"n":1,"t":2,"w":`, payload{}, false},
		{`{"n":"1","t":2}`, payload{}, false},
	} {
		got, ok := parsePayload([]byte(tc.in))
		if ok != tc.ok || got != tc.want {
			t.Errorf("parsePayload(%s) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseInt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		v    int64
		rest string
		ok   bool
	}{
		{"123,", 123, ",", true},
		{"-45x", -45, "x", true},
		{"0", 0, "", true},
		{"x1", 0, "x1", false},
		{"-", 0, "", false},
		{"1234567890123456789012", 1234567890123456789, "012", true}, // at most 19 digits
	} {
		v, rest, ok := parseInt([]byte(tc.in))
		if v != tc.v || string(rest) != tc.rest || ok != tc.ok {
			t.Errorf("parseInt(%q) = %d, %q, %v", tc.in, v, rest, ok)
		}
	}
	if rest, ok := cutPrefix([]byte("ab"), "abc"); ok || string(rest) != "ab" {
		t.Errorf("cutPrefix of a longer prefix: %q %v", rest, ok)
	}
	if userName("u", 42) != "u42" {
		t.Errorf("userName = %q", userName("u", 42))
	}
}
