package bench

// seqSet remembers which sequence numbers one connection received, to tell a
// message seen for the first time from a duplicate. It is a bitset grown in pages,
// used by one goroutine (the client's reading goroutine).
type seqSet struct {
	pages [][]uint64
}

const seqPageBits = 1 << 14 // 16 Ki sequence numbers (2 KiB) per page

// add marks i and reports whether it was new. Negative numbers are never new.
func (s *seqSet) add(i int64) bool {
	if i < 0 {
		return false
	}
	p, off := int(i/seqPageBits), i%seqPageBits
	for len(s.pages) <= p {
		s.pages = append(s.pages, nil)
	}
	if s.pages[p] == nil {
		s.pages[p] = make([]uint64, seqPageBits/64)
	}
	w, bit := &s.pages[p][off/64], uint64(1)<<(off%64)
	if *w&bit != 0 {
		return false
	}
	*w |= bit
	return true
}
