package streams

import (
	"fmt"
	"testing"

	"github.com/herald-push/herald/wire"
)

// The periodic rewrite goes a slice at a time: each slice queues only its own
// recipients, a fair share of them, and the slices together cover every one.
func TestPresenceResyncSlicesCoverEveryRecipientOnce(t *testing.T) {
	p := NewPresence(nil, NewKeys("herald", 1), "n1", 0, nil, nil)
	const n = 6000
	for i := 0; i < n; i++ {
		p.present[wire.User(fmt.Sprint("u", i))] = struct{}{}
	}
	p.present[wire.Topic("u1")] = struct{}{}
	seen := map[wire.Recipient]int{}
	for slice := 0; slice < resyncSlices; slice++ {
		p.resyncSlice(slice, resyncSlices)
		if got := len(p.pending); got < n/resyncSlices/2 || got > 2*n/resyncSlices {
			t.Errorf("slice %d queued %d of %d recipients", slice, got, n+1)
		}
		for r := range p.pending {
			seen[r]++
		}
		clear(p.pending)
	}
	if len(seen) != n+1 {
		t.Fatalf("the slices covered %d of %d recipients", len(seen), n+1)
	}
	for r, c := range seen {
		if c != 1 {
			t.Fatalf("%v queued by %d slices", r, c)
		}
	}
}
