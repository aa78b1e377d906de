package wire

import "errors"

// ErrBadName is returned for a user id or topic name outside the contract's alphabet.
var ErrBadName = errors.New("wire: names are 1 to 128 bytes of [A-Za-z0-9_.:@-]")

// MaxNameLen is the longest user id or topic name.
const MaxNameLen = 128

// Kind tells a user recipient from a topic.
type Kind byte

const (
	KindUser  Kind = 'u'
	KindTopic Kind = 't'
)

// Recipient is who a push is for: a user or a topic.
type Recipient struct {
	Kind Kind
	Name string
}

// User is the recipient for user id name.
func User(name string) Recipient { return Recipient{Kind: KindUser, Name: name} }

// Topic is the recipient for topic name.
func Topic(name string) Recipient { return Recipient{Kind: KindTopic, Name: name} }

// String is "u:<id>" or "t:<name>", the form used in Redis keys and inbox entries.
func (r Recipient) String() string { return string(r.Kind) + ":" + r.Name }

// ParseRecipient reverses String.
func ParseRecipient(s string) (Recipient, error) {
	if len(s) < 3 || s[1] != ':' || (s[0] != byte(KindUser) && s[0] != byte(KindTopic)) {
		return Recipient{}, ErrBadName
	}
	r := Recipient{Kind: Kind(s[0]), Name: s[2:]}
	return r, ValidName(r.Name)
}

// field is the JSON field naming the recipient in push and recovered frames.
func (r Recipient) field() string {
	if r.Kind == KindTopic {
		return "topic"
	}
	return "to"
}

// ValidName checks a user id or topic name against PROTOCOL.md section 1.
func ValidName(s string) error {
	if len(s) == 0 || len(s) > MaxNameLen {
		return ErrBadName
	}
	for i := 0; i < len(s); i++ {
		if !nameByte(s[i]) {
			return ErrBadName
		}
	}
	return nil
}

func nameByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '_', '.', ':', '@', '-':
		return true
	}
	return false
}
