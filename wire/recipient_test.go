package wire_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/herald-push/herald/wire"
)

func TestValidName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"empty", "", false},
		{"one byte", "a", true},
		{"128 bytes", strings.Repeat("a", 128), true},
		{"129 bytes", strings.Repeat("a", 129), false},
		{"127 bytes plus a bad byte", strings.Repeat("a", 127) + " ", false},
		{"letters and digits", "AZaz09", true},
		{"underscore", "a_b", true},
		{"dot", "a.b", true},
		{"colon", "a:b", true},
		{"at", "a@b", true},
		{"dash", "a-b", true},
		{"only punctuation", "_.:@-", true},
		{"email like", "alice@example.com", true},
		{"space", "a b", false},
		{"leading space", " a", false},
		{"trailing newline", "a\n", false},
		{"tab", "a\tb", false},
		{"NUL", "a\x00", false},
		{"DEL", "a\x7f", false},
		{"slash", "a/b", false},
		{"plus", "a+b", false},
		{"brace open (hash tag)", "a{b", false},
		{"brace close (hash tag)", "a}b", false},
		{"star", "a*", false},
		{"quote", `a"b`, false},
		{"backslash", `a\b`, false},
		{"comma", "a,b", false},
		{"hash", "a#b", false},
		{"unicode letter", "é", false},
		{"unicode in ascii", "caf\u00e9", false},
		{"emoji", "\U0001F600", false},
		{"invalid utf-8", "a\xff", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := wire.ValidName(tt.in)
			if tt.ok && err != nil {
				t.Fatalf("ValidName(%q) = %v, want nil", tt.in, err)
			}
			if !tt.ok && !errors.Is(err, wire.ErrBadName) {
				t.Fatalf("ValidName(%q) = %v, want ErrBadName", tt.in, err)
			}
		})
	}
}

// Every byte outside [A-Za-z0-9_.:@-] is refused; every byte in it is accepted.
func TestValidNameEveryByte(t *testing.T) {
	t.Parallel()
	const allowed = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:@-"
	for c := 0; c < 256; c++ {
		s := "x" + string([]byte{byte(c)}) + "y"
		err := wire.ValidName(s)
		if want := strings.IndexByte(allowed, byte(c)) >= 0; want != (err == nil) {
			t.Errorf("ValidName(%q) = %v, want ok=%v", s, err, want)
		}
	}
}

func TestRecipient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		r    wire.Recipient
		str  string
		kind wire.Kind
	}{
		{wire.User("alice"), "u:alice", wire.KindUser},
		{wire.Topic("news"), "t:news", wire.KindTopic},
		{wire.User("a:b@c"), "u:a:b@c", wire.KindUser},
		{wire.Topic(strings.Repeat("z", 128)), "t:" + strings.Repeat("z", 128), wire.KindTopic},
	}
	for _, tt := range tests {
		t.Run(tt.str, func(t *testing.T) {
			if tt.r.Kind != tt.kind {
				t.Fatalf("Kind = %c, want %c", tt.r.Kind, tt.kind)
			}
			if got := tt.r.String(); got != tt.str {
				t.Fatalf("String() = %q, want %q", got, tt.str)
			}
			back, err := wire.ParseRecipient(tt.str)
			if err != nil || back != tt.r {
				t.Fatalf("ParseRecipient(%q) = %+v, %v; want %+v", tt.str, back, err, tt.r)
			}
		})
	}
}

func TestParseRecipientBad(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "u", "u:", "t:", "x:alice", "U:alice", "ualice", "u-alice", ":alice", "u:a b", "t:" + strings.Repeat("n", 129), "u:é"} {
		t.Run(strconv.Quote(s), func(t *testing.T) {
			if r, err := wire.ParseRecipient(s); !errors.Is(err, wire.ErrBadName) {
				t.Fatalf("ParseRecipient(%q) = %+v, %v; want ErrBadName", s, r, err)
			}
		})
	}
}
