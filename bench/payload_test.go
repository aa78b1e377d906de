package bench

import (
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
