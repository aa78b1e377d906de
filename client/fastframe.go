package client

import (
	"encoding/json"
	"unicode/utf8"
)

// decodeFrame decodes line into the zero f as json.Unmarshal(line, f) would, for
// the flat frames the server writes (wire.AppendFrame): reflection-based
// decoding of every push was half of a load-test client's CPU. It returns false
// for anything it is not sure to decode identically (escaped or invalid UTF-8
// strings, unknown or differently cased keys, null or mistyped values, deep
// data); the caller then falls back to encoding/json and must reset f first.
func decodeFrame(line []byte, f *inFrame) bool {
	s := frameScanner{b: line}
	if !s.consume('{') {
		return false
	}
	if s.consume('}') {
		return s.atEnd()
	}
	for {
		key, ok := s.key()
		if !ok || !s.consume(':') || !s.field(key, f) {
			return false
		}
		if !s.consume(',') {
			return s.consume('}') && s.atEnd()
		}
	}
}

// maxDataDepth bounds the nesting inside data. encoding/json rejects input
// nested deeper than 10000; staying far below that keeps the recursion short
// and leaves the exact limit to encoding/json.
const maxDataDepth = 512

// frameScanner walks one frame; i is the next unread byte of b.
type frameScanner struct {
	b []byte
	i int
}

// field decodes the value of key into f. A duplicate key overwrites the earlier
// value, as with encoding/json. Keys that are not an exact tag bail out because
// encoding/json also matches them case-insensitively.
func (s *frameScanner) field(key []byte, f *inFrame) bool {
	switch string(key) {
	case "type":
		v, ok := s.plainString()
		f.Type = frameType(v)
		return ok
	case "session":
		return s.str(&f.Session)
	case "node":
		return s.str(&f.Node)
	case "user":
		return s.str(&f.User)
	case "id":
		return s.str(&f.ID)
	case "offset":
		return s.str(&f.Offset)
	case "to":
		return s.str(&f.To)
	case "topic":
		return s.str(&f.Topic)
	case "from":
		return s.str(&f.From)
	case "ts":
		return s.integer(&f.TS)
	case "data":
		return s.raw(&f.Data)
	case "complete":
		return s.boolean(&f.Complete)
	case "code":
		return s.str(&f.Code)
	case "reason":
		return s.str(&f.Reason)
	case "ref":
		return s.str(&f.Ref)
	}
	return false
}

// frameType returns the known frame types without allocating: every frame
// carries one, so interning saves an allocation per push.
func frameType(b []byte) string {
	switch string(b) {
	case "push":
		return "push"
	case "welcome":
		return "welcome"
	case "recovered":
		return "recovered"
	case "error":
		return "error"
	case "sent":
		return "sent"
	case "subscribed":
		return "subscribed"
	case "unsubscribed":
		return "unsubscribed"
	}
	return string(b)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (s *frameScanner) skipSpace() {
	for s.i < len(s.b) && isSpace(s.b[s.i]) {
		s.i++
	}
}

// consume skips whitespace and then c, if c is next.
func (s *frameScanner) consume(c byte) bool {
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *frameScanner) atEnd() bool {
	s.skipSpace()
	return s.i == len(s.b)
}

// key returns an object key's bytes. An escaped key could still spell a tag,
// so it bails out rather than unescape.
func (s *frameScanner) key() ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	start := s.i
	for ; s.i < len(s.b); s.i++ {
		switch s.b[s.i] {
		case '"':
			s.i++
			return s.b[start : s.i-1], true
		case '\\':
			return nil, false
		}
	}
	return nil, false
}

func (s *frameScanner) str(dst *string) bool {
	v, ok := s.plainString()
	*dst = string(v)
	return ok
}

// plainString returns the bytes of a string value that encoding/json would
// take verbatim: no escapes, no control characters, valid UTF-8 (it replaces
// invalid sequences with U+FFFD). null bails out: it would keep the old value.
func (s *frameScanner) plainString() ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	start, ascii := s.i, true
	for ; s.i < len(s.b); s.i++ {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, ascii || utf8.Valid(v)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// integer takes a JSON integer that fits an int64. Fractions and exponents bail
// out: encoding/json rejects them for an int64 field.
func (s *frameScanner) integer(dst *int64) bool {
	s.skipSpace()
	neg := s.i < len(s.b) && s.b[s.i] == '-'
	if neg {
		s.i++
	}
	start := s.i
	var n uint64
	for ; s.i < len(s.b) && isDigit(s.b[s.i]); s.i++ {
		n = n*10 + uint64(s.b[s.i]-'0')
	}
	digits := s.i - start
	// 19 digits cannot wrap a uint64, so n is exact when the checks pass.
	if digits == 0 || digits > 19 || (digits > 1 && s.b[start] == '0') {
		return false
	}
	if neg {
		if n > 1<<63 {
			return false
		}
		*dst = int64(-n)
		return true
	}
	if n > 1<<63-1 {
		return false
	}
	*dst = int64(n)
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (s *frameScanner) boolean(dst *bool) bool {
	s.skipSpace()
	switch {
	case s.literal("true"):
		*dst = true
	case s.literal("false"):
		*dst = false
	default:
		return false
	}
	return true
}

// literal consumes lit if the input continues with it.
func (s *frameScanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// raw copies a whole JSON value, without the whitespace around it, as
// json.RawMessage.UnmarshalJSON does. null is copied too: RawMessage is an
// Unmarshaler, so encoding/json hands it the literal.
func (s *frameScanner) raw(dst *json.RawMessage) bool {
	s.skipSpace()
	start := s.i
	if !s.value(1) {
		return false
	}
	*dst = append(json.RawMessage(nil), s.b[start:s.i]...)
	return true
}

// value skips one JSON value that starts at s.i, checking its grammar.
func (s *frameScanner) value(depth int) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return depth <= maxDataDepth && s.object(depth)
	case c == '[':
		return depth <= maxDataDepth && s.array(depth)
	case c == '"':
		return s.dataString()
	case c == '-' || isDigit(c):
		return s.number()
	}
	return s.literal("true") || s.literal("false") || s.literal("null")
}

func (s *frameScanner) object(depth int) bool {
	s.i++ // '{'
	if s.consume('}') {
		return true
	}
	for {
		s.skipSpace()
		if s.i >= len(s.b) || s.b[s.i] != '"' || !s.dataString() || !s.consume(':') {
			return false
		}
		s.skipSpace()
		if !s.value(depth + 1) {
			return false
		}
		if !s.consume(',') {
			return s.consume('}')
		}
	}
}

func (s *frameScanner) array(depth int) bool {
	s.i++ // '['
	if s.consume(']') {
		return true
	}
	for {
		s.skipSpace()
		if !s.value(depth + 1) {
			return false
		}
		if !s.consume(',') {
			return s.consume(']')
		}
	}
}

// dataString skips a string inside data. Unlike plainString it accepts every
// escape and any byte from 0x20 up: encoding/json keeps data verbatim, invalid
// UTF-8 included, and validates only the grammar.
func (s *frameScanner) dataString() bool {
	s.i++ // '"'
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return true
		case c == '\\':
			if !s.escape() {
				return false
			}
		case c < 0x20:
			return false
		default:
			s.i++
		}
	}
	return false
}

// escape skips one backslash escape.
func (s *frameScanner) escape() bool {
	if s.i+1 >= len(s.b) {
		return false
	}
	switch s.b[s.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.i += 2
		return true
	case 'u':
		if s.i+6 > len(s.b) {
			return false
		}
		for _, h := range s.b[s.i+2 : s.i+6] {
			if !isHex(h) {
				return false
			}
		}
		s.i += 6
		return true
	}
	return false
}

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// number skips -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *frameScanner) number() bool {
	if s.b[s.i] == '-' {
		s.i++
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if !s.digits() {
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if !s.digits() {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		return s.digits()
	}
	return true
}

// digits skips one or more decimal digits.
func (s *frameScanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && isDigit(s.b[s.i]) {
		s.i++
	}
	return s.i > start
}
