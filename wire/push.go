package wire

import "strconv"

// Push is one message for one recipient, as it sits in the recipient's history.
type Push struct {
	Recipient Recipient
	ID        string // the publisher's message id (or the ingress entry id)
	Offset    Offset // position in the recipient's history stream
	From      string // sender's user id, "" when the publish had none
	TS        int64  // publish time, unix ms
	Expire    int64  // unix ms after which it is neither delivered nor replayed; 0 = never
	Data      []byte // the payload: compact JSON, never a raw newline
	Frame     []byte // the encoded push frame, built once and shared by every session
}

// Expired reports whether p must no longer be delivered at unix ms now.
func (p *Push) Expired(nowMs int64) bool { return p.Expire != 0 && nowMs >= p.Expire }

// AppendFrame appends p's push frame to dst. Hand-written rather than encoding/json
// because it runs once per push on the hot path; Data is already valid compact JSON.
func (p *Push) AppendFrame(dst []byte) []byte {
	dst = append(dst, `{"type":"push","id":`...)
	dst = AppendString(dst, p.ID)
	dst = append(dst, `,"offset":"`...)
	dst = p.Offset.Append(dst)
	dst = append(dst, `","`...)
	dst = append(dst, p.Recipient.field()...)
	dst = append(dst, `":`...)
	dst = AppendString(dst, p.Recipient.Name)
	if p.From != "" {
		dst = append(dst, `,"from":`...)
		dst = AppendString(dst, p.From)
	}
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, p.TS, 10)
	dst = append(dst, `,"data":`...)
	dst = append(dst, p.Data...)
	return append(dst, '}')
}

// Encode sets p.Frame. Call it once, before p is shared.
func (p *Push) Encode() {
	n := 128 + len(p.ID) + len(p.Recipient.Name) + len(p.From) + len(p.Data)
	p.Frame = p.AppendFrame(make([]byte, 0, n))
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Callers pass valid UTF-8 (ingress
// validation guarantees it); control characters, quotes and backslashes are escaped.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
