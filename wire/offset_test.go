package wire_test

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/herald-push/herald/wire"
)

const maxU64 = "18446744073709551615"

func TestParseOffset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want wire.Offset
	}{
		{"0-0", wire.Offset{}},
		{"0-1", wire.Offset{Seq: 1}},
		{"1700000000000-0", wire.Offset{Ms: 1700000000000}},
		{"1700000000000-42", wire.Offset{Ms: 1700000000000, Seq: 42}},
		{"1700000000000", wire.Offset{Ms: 1700000000000}}, // bare ms, as Redis accepts
		{"0", wire.Offset{}},
		{"007-08", wire.Offset{Ms: 7, Seq: 8}}, // leading zeros parse (String is canonical)
		{maxU64 + "-" + maxU64, wire.Offset{Ms: math.MaxUint64, Seq: math.MaxUint64}},
		{maxU64, wire.Offset{Ms: math.MaxUint64}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := wire.ParseOffset(tt.in)
			if err != nil {
				t.Fatalf("ParseOffset(%q) error %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseOffset(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseOffsetBad(t *testing.T) {
	t.Parallel()
	bad := []string{
		"",
		"-",
		"1-",
		"-1",
		"--",
		"1--1",
		"1-2-3",
		"a-1",
		"1-a",
		"abc",
		" 1-1",
		"1-1 ",
		"1 -1",
		"+1-1",
		"1-+1",
		"-1-1",
		"1--",
		"0x10-0",
		"1_000-0",
		"1.5-0",
		"1e3-0",
		"18446744073709551616-0",    // ms overflows uint64
		"0-18446744073709551616",    // seq overflows uint64
		maxU64 + "-" + maxU64 + "0", // 42 bytes
		strings.Repeat("0", 42),     // too long even if numeric
		"1-1\n",
		"1-1\x00",
		"１-1", // full-width digit
		"$",
		">",
		"*",
		"+",
	}
	for _, s := range bad {
		t.Run(strconv.Quote(s), func(t *testing.T) {
			o, err := wire.ParseOffset(s)
			if !errors.Is(err, wire.ErrBadOffset) {
				t.Fatalf("ParseOffset(%q) = %+v, %v; want ErrBadOffset", s, o, err)
			}
			if !o.IsZero() {
				t.Fatalf("ParseOffset(%q) returned non-zero offset %+v with an error", s, o)
			}
			if m := wire.MustOffset(s); !m.IsZero() {
				t.Fatalf("MustOffset(%q) = %+v, want zero", s, m)
			}
		})
	}
}

func TestOffsetStringRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		o    wire.Offset
		want string
	}{
		{wire.Offset{}, "0-0"},
		{wire.Offset{Seq: 1}, "0-1"},
		{wire.Offset{Ms: 1700000000000, Seq: 3}, "1700000000000-3"},
		{wire.Offset{Ms: math.MaxUint64, Seq: math.MaxUint64}, maxU64 + "-" + maxU64},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.o.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
			if got := string(tt.o.Append([]byte("x:"))); got != "x:"+tt.want {
				t.Fatalf("Append = %q, want %q", got, "x:"+tt.want)
			}
			back, err := wire.ParseOffset(tt.want)
			if err != nil || back != tt.o {
				t.Fatalf("ParseOffset(String()) = %+v, %v; want %+v", back, err, tt.o)
			}
			if got := wire.MustOffset(tt.want); got != tt.o {
				t.Fatalf("MustOffset = %+v, want %+v", got, tt.o)
			}
		})
	}
	// Non-canonical input renders canonically.
	if got := wire.MustOffset("0012-000").String(); got != "12-0" {
		t.Fatalf("canonical form of 0012-000 = %q, want 12-0", got)
	}
	if got := wire.MustOffset("12").String(); got != "12-0" {
		t.Fatalf("canonical form of 12 = %q, want 12-0", got)
	}
}

func TestOffsetLess(t *testing.T) {
	t.Parallel()
	o := func(ms, seq uint64) wire.Offset { return wire.Offset{Ms: ms, Seq: seq} }
	tests := []struct {
		name string
		a, b wire.Offset
		want bool
	}{
		{"equal zero", o(0, 0), o(0, 0), false},
		{"zero before any entry", o(0, 0), o(0, 1), true},
		{"equal", o(5, 5), o(5, 5), false},
		{"seq orders within ms", o(5, 1), o(5, 2), true},
		{"seq reverse", o(5, 2), o(5, 1), false},
		{"ms wins over seq", o(4, 99), o(5, 0), true},
		{"ms wins over seq reverse", o(5, 0), o(4, 99), false},
		{"max", o(math.MaxUint64, math.MaxUint64), o(math.MaxUint64, math.MaxUint64), false},
		{"large ms", o(math.MaxUint64-1, math.MaxUint64), o(math.MaxUint64, 0), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Less(tt.b); got != tt.want {
				t.Fatalf("%v.Less(%v) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
			if tt.want && tt.b.Less(tt.a) {
				t.Fatalf("Less is not antisymmetric for %v, %v", tt.a, tt.b)
			}
		})
	}
}

func TestOffsetIsZero(t *testing.T) {
	t.Parallel()
	if !(wire.Offset{}).IsZero() || !wire.MustOffset("0-0").IsZero() {
		t.Fatal("zero offset not IsZero")
	}
	for _, o := range []wire.Offset{{Seq: 1}, {Ms: 1}} {
		if o.IsZero() {
			t.Fatalf("%v IsZero", o)
		}
	}
}

func TestOffsetNext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		o, want wire.Offset
	}{
		{wire.Offset{}, wire.Offset{Seq: 1}},
		{wire.Offset{Ms: 7, Seq: 3}, wire.Offset{Ms: 7, Seq: 4}},
		{wire.Offset{Ms: 7, Seq: math.MaxUint64}, wire.Offset{Ms: 8}},
	}
	for _, tt := range tests {
		t.Run(tt.o.String(), func(t *testing.T) {
			got := tt.o.Next()
			if got != tt.want {
				t.Fatalf("%v.Next() = %v, want %v", tt.o, got, tt.want)
			}
			if !tt.o.Less(got) {
				t.Fatalf("%v.Next() = %v does not sort after it", tt.o, got)
			}
		})
	}
}

// The largest offset has no successor; Next must not wrap around to 0-0, or an
// exclusive range read "after since" becomes a read of everything.
func TestOffsetNextOfMaxDoesNotWrap(t *testing.T) {
	t.Parallel()

	max := wire.Offset{Ms: math.MaxUint64, Seq: math.MaxUint64}
	if n := max.Next(); n.Less(max) {
		t.Fatalf("Next of the largest offset = %v, which sorts before it", n)
	}
}

func FuzzParseOffset(f *testing.F) {
	for _, s := range []string{"0-0", "1-1", "1700000000000-12", "42", "", "-", "1-", "a-b", maxU64 + "-" + maxU64, "18446744073709551616-0", "1-2-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := wire.ParseOffset(s)
		if err != nil {
			if !errors.Is(err, wire.ErrBadOffset) || !o.IsZero() {
				t.Fatalf("ParseOffset(%q) = %+v, %v", s, o, err)
			}
			return
		}
		// A valid offset renders canonically and parses back to itself.
		str := o.String()
		back, err := wire.ParseOffset(str)
		if err != nil || back != o {
			t.Fatalf("ParseOffset(%q) = %+v; its String %q parses to %+v, %v", s, o, str, back, err)
		}
		if back.Less(o) || o.Less(back) {
			t.Fatalf("round trip of %q changed order", s)
		}
		if o.Less(o) {
			t.Fatalf("%v.Less(itself)", o)
		}
		// Only digits and at most one dash were accepted.
		if strings.Count(s, "-") > 1 || strings.Trim(s, "0123456789-") != "" {
			t.Fatalf("ParseOffset accepted %q", s)
		}
		if o.Seq != math.MaxUint64 || o.Ms != math.MaxUint64 { // the max has no successor (see TestOffsetNextOfMaxDoesNotWrap)
			if n := o.Next(); !o.Less(n) {
				t.Fatalf("%v.Next() = %v", o, n)
			}
		}
	})
}
