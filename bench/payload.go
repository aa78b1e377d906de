package bench

import (
	"encoding/json"
	"strconv"
	"strings"
)

// The bench's payload is a small JSON object whose first fields are fixed, so that
// receivers read them without a JSON decoder:
//
//	{"n":<seq>,"t":<publish time, unix ns>,"w":<0|1>,"p":"<padding>"}
//
// n is the message's sequence number in the run, t the moment its XADD (or, in
// the baseline, its write) was issued, w marks the warm-up messages that are not
// measured, and p pads the payload to the configured size.

// payload is a parsed bench payload.
type payload struct {
	N    int64
	T    int64
	Warm bool
}

// appendPayload appends the payload of message n, published at t (unix ns), padded
// so that the whole object is about size bytes.
func appendPayload(dst []byte, n, t int64, warm bool, size int) []byte {
	start := len(dst)
	dst = append(dst, `{"n":`...)
	dst = strconv.AppendInt(dst, n, 10)
	dst = append(dst, `,"t":`...)
	dst = strconv.AppendInt(dst, t, 10)
	if warm {
		dst = append(dst, `,"w":1,"p":"`...)
	} else {
		dst = append(dst, `,"w":0,"p":"`...)
	}
	for pad := size - (len(dst) - start) - 2; pad > 0; pad-- {
		dst = append(dst, 'x')
	}
	return append(dst, `"}`...)
}

// parsePayload reads a payload written by appendPayload, falling back to a JSON
// decoder when a server reformatted it (whitespace, field order).
func parsePayload(b []byte) (payload, bool) {
	var p payload
	rest, ok := cutPrefix(b, `{"n":`)
	if ok {
		p.N, rest, ok = parseInt(rest)
	}
	if ok {
		rest, ok = cutPrefix(rest, `,"t":`)
	}
	if ok {
		p.T, rest, ok = parseInt(rest)
	}
	if ok {
		rest, ok = cutPrefix(rest, `,"w":`)
	}
	if ok && len(rest) > 0 {
		p.Warm = rest[0] == '1'
		return p, true
	}
	var v struct {
		N *int64 `json:"n"`
		T *int64 `json:"t"`
		W int    `json:"w"`
	}
	if json.Unmarshal(b, &v) != nil || v.N == nil || v.T == nil {
		return payload{}, false
	}
	return payload{N: *v.N, T: *v.T, Warm: v.W == 1}, true
}

func cutPrefix(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return b, false
	}
	return b[len(prefix):], true
}

func parseInt(b []byte) (int64, []byte, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	var v int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9' && i < 19; i++ {
		v = v*10 + int64(b[i]-'0')
	}
	if i == 0 {
		return 0, b, false
	}
	if neg {
		v = -v
	}
	return v, b[i:], true
}

// userName is the user id of client i: u0, u1, ...
func userName(prefix string, i int) string { return prefix + strconv.Itoa(i) }

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
