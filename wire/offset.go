// Package wire is Herald's client protocol (PROTOCOL.md sections 3 to 6): the frames a
// session writes and reads, offsets, recipients and close codes. It has no dependencies
// so that streams, actors and gateway can share it.
package wire

import (
	"errors"
	"strconv"
	"strings"
)

// ErrBadOffset is returned for a string that is not a Redis stream entry id.
var ErrBadOffset = errors.New("wire: bad offset")

// Offset is a position in a recipient's history stream: a Redis entry id <ms>-<seq>.
// The zero Offset sorts before every real entry.
type Offset struct {
	Ms  uint64
	Seq uint64
}

// ParseOffset accepts "<ms>-<seq>" and, as Redis does, a bare "<ms>" meaning seq 0.
func ParseOffset(s string) (Offset, error) {
	if s == "" || len(s) > 41 {
		return Offset{}, ErrBadOffset
	}
	msPart, seqPart, hasSeq := strings.Cut(s, "-")
	ms, err := strconv.ParseUint(msPart, 10, 64)
	if err != nil {
		return Offset{}, ErrBadOffset
	}
	var seq uint64
	if hasSeq {
		if seq, err = strconv.ParseUint(seqPart, 10, 64); err != nil {
			return Offset{}, ErrBadOffset
		}
	}
	return Offset{Ms: ms, Seq: seq}, nil
}

// MustOffset parses s and returns the zero Offset when it is not valid. For ids that
// come from Redis itself, which are always valid.
func MustOffset(s string) Offset {
	o, _ := ParseOffset(s)
	return o
}

// IsZero reports whether o is the zero Offset.
func (o Offset) IsZero() bool { return o.Ms == 0 && o.Seq == 0 }

// Less reports whether o sorts before p.
func (o Offset) Less(p Offset) bool {
	if o.Ms != p.Ms {
		return o.Ms < p.Ms
	}
	return o.Seq < p.Seq
}

// String renders o as Redis does.
func (o Offset) String() string {
	return string(o.Append(nil))
}

// Append appends the string form of o to dst.
func (o Offset) Append(dst []byte) []byte {
	dst = strconv.AppendUint(dst, o.Ms, 10)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, o.Seq, 10)
}

// Next is the smallest offset after o, the exclusive start of a range read.
func (o Offset) Next() Offset {
	if o.Seq == ^uint64(0) {
		if o.Ms == ^uint64(0) {
			return o // the largest offset has no successor; nothing sorts after it
		}
		return Offset{Ms: o.Ms + 1}
	}
	return Offset{Ms: o.Ms, Seq: o.Seq + 1}
}
