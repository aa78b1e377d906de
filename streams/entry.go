package streams

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/herald-push/herald/wire"
)

// Ingress entry fields, docs/PROTOCOL.md section 1.
const (
	fieldTo    = "to"
	fieldTopic = "topic"
	fieldData  = "data"
	fieldID    = "id"
	fieldFrom  = "from"
	fieldTTL   = "ttl"
)

// History and inbox entry fields. Short, because they are stored once per message
// per recipient.
const (
	histID     = "id"
	histData   = "data"
	histTS     = "ts"
	histFrom   = "from"
	histExpire = "exp"
	inboxRcpt  = "r"
	inboxOff   = "o"
)

// maxIDLen bounds a publisher's message id.
const maxIDLen = 256

// Rejection is why an ingress entry cannot be delivered; it becomes the dead
// letter's reason.
type Rejection string

// Error makes a Rejection usable as an error.
func (r Rejection) Error() string { return string(r) }

// Rejected marks it as the client's fault, for callers outside this package.
func (r Rejection) Rejected() bool { return true }

// rejectionClasses label dead letters in herald_dead_letters_total: the start of each
// reason ParseIngress gives, next to the reasons themselves so the two stay in step.
var rejectionClasses = []struct{ prefix, class string }{
	{"missing data", "invalid_data"},
	{"data is not JSON", "invalid_data"},
	{"payload too large", "invalid_payload"},
	{"both to and topic", "invalid_both"},
	{"neither to nor topic", "invalid_neither"},
	{"bad user id", "invalid_user"},
	{"bad topic name", "invalid_topic"},
	{"bad id", "invalid_id"},
	{"bad from", "invalid_from"},
	{"bad ttl", "invalid_ttl"},
}

// Class is the metric label of r.
func (r Rejection) Class() string {
	for _, c := range rejectionClasses {
		if strings.HasPrefix(string(r), c.prefix) {
			return c.class
		}
	}
	return "invalid"
}

// ParseIngress validates one ingress entry (id is its stream entry id, whose time part
// is the publish time) and turns it into a push without an offset yet.
func ParseIngress(id string, fields map[string]any, maxPayload int) (*wire.Push, error) {
	str := func(k string) (string, bool) {
		v, ok := fields[k]
		if !ok {
			return "", false
		}
		s, isStr := v.(string)
		return s, isStr
	}
	to, hasTo := str(fieldTo)
	topic, hasTopic := str(fieldTopic)
	rcpt, err := parseRecipient(to, hasTo, topic, hasTopic)
	if err != nil {
		return nil, err
	}
	raw, ok := str(fieldData)
	if !ok {
		return nil, Rejection("missing data")
	}
	data, err := parseData(raw, maxPayload)
	if err != nil {
		return nil, err
	}
	ts := int64(wire.MustOffset(id).Ms)
	p := &wire.Push{Recipient: rcpt, ID: id, TS: ts, Data: data}
	if err := parseOptional(p, str); err != nil {
		return nil, err
	}
	return p, nil
}

func parseRecipient(to string, hasTo bool, topic string, hasTopic bool) (wire.Recipient, error) {
	switch {
	case hasTo && hasTopic:
		return wire.Recipient{}, Rejection("both to and topic")
	case hasTo:
		if wire.ValidName(to) != nil {
			return wire.Recipient{}, Rejection("bad user id in to: " + wire.ErrBadName.Error())
		}
		return wire.User(to), nil
	case hasTopic:
		if wire.ValidName(topic) != nil {
			return wire.Recipient{}, Rejection("bad topic name: " + wire.ErrBadName.Error())
		}
		return wire.Topic(topic), nil
	}
	return wire.Recipient{}, Rejection("neither to nor topic")
}

// parseData checks the payload and makes it compact: the coalesced wire format
// separates frames with newlines, so a payload must not contain a raw one.
func parseData(raw string, maxPayload int) ([]byte, error) {
	if len(raw) > maxPayload {
		return nil, Rejection("payload too large: " + strconv.Itoa(len(raw)) + " bytes > " + strconv.Itoa(maxPayload))
	}
	b := []byte(raw)
	if !utf8.Valid(b) || !json.Valid(b) { // invalid UTF-8 in a text frame makes browsers drop the connection
		return nil, Rejection("data is not JSON")
	}
	if bytes.ContainsAny(b, "\n\r") {
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return nil, Rejection("data is not JSON")
		}
		b = buf.Bytes()
	}
	return b, nil
}

func parseOptional(p *wire.Push, str func(string) (string, bool)) error {
	if id, ok := str(fieldID); ok {
		if id == "" || len(id) > maxIDLen || !utf8.ValidString(id) {
			return Rejection("bad id: 1 to 256 bytes of UTF-8")
		}
		p.ID = id
	}
	if from, ok := str(fieldFrom); ok {
		if wire.ValidName(from) != nil {
			return Rejection("bad from: " + wire.ErrBadName.Error())
		}
		p.From = from
	}
	if ttl, ok := str(fieldTTL); ok {
		secs, err := strconv.ParseInt(ttl, 10, 64)
		if err != nil || secs <= 0 || secs > 10*365*24*3600 {
			return Rejection("bad ttl: a positive number of seconds")
		}
		p.Expire = p.TS + secs*1000
	}
	return nil
}

// historyFieldCount is the number of arguments historyFields writes for p.
func historyFieldCount(p *wire.Push) int {
	n := 6
	if p.From != "" {
		n += 2
	}
	if p.Expire != 0 {
		n += 2
	}
	return n
}

// historyFields writes the fields of p's history entry to a (historyFieldCount(p)
// long).
func historyFields(a []any, p *wire.Push) {
	a[0], a[1], a[2], a[3], a[4], a[5] = histID, p.ID, histData, p.Data, histTS, p.TS
	i := 6
	if p.From != "" {
		a[i], a[i+1] = histFrom, p.From
		i += 2
	}
	if p.Expire != 0 {
		a[i], a[i+1] = histExpire, p.Expire
	}
}

// inboxFieldCount is the number of arguments inboxFields writes for p.
func inboxFieldCount(p *wire.Push) int { return historyFieldCount(p) + 4 }

// inboxFields writes the fields of p's entry in a node inbox: the history fields
// plus the recipient and the offset.
func inboxFields(a []any, p *wire.Push) {
	n := historyFieldCount(p)
	historyFields(a, p)
	a[n], a[n+1], a[n+2], a[n+3] = inboxRcpt, p.Recipient.String(), inboxOff, p.Offset.String()
}

// pushFromHistory rebuilds a push from a history entry of r.
func pushFromHistory(r wire.Recipient, id string, f map[string]any) (*wire.Push, error) {
	p := &wire.Push{Recipient: r, Offset: wire.MustOffset(id)}
	return p, fillStored(p, f)
}

// pushFromInbox rebuilds a push from a node inbox entry.
func pushFromInbox(f map[string]any) (*wire.Push, error) {
	rs, _ := f[inboxRcpt].(string)
	r, err := wire.ParseRecipient(rs)
	if err != nil {
		return nil, Rejection("inbox entry without a valid recipient")
	}
	os, _ := f[inboxOff].(string)
	off, err := wire.ParseOffset(os)
	if err != nil {
		return nil, Rejection("inbox entry without a valid offset")
	}
	p := &wire.Push{Recipient: r, Offset: off}
	return p, fillStored(p, f)
}

func fillStored(p *wire.Push, f map[string]any) error {
	p.ID, _ = f[histID].(string)
	data, _ := f[histData].(string)
	p.From, _ = f[histFrom].(string)
	p.TS, _ = strconv.ParseInt(asString(f[histTS]), 10, 64)
	p.Expire, _ = strconv.ParseInt(asString(f[histExpire]), 10, 64)
	if p.ID == "" || data == "" || !json.Valid([]byte(data)) {
		return Rejection("stored entry without id or valid data")
	}
	p.Data = []byte(data)
	return nil
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}
