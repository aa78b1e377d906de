package actors

import (
	"testing"
	"time"

	"github.com/herald-push/herald/wire"
)

// An operator's close reaches exactly the sessions its match selects: by user,
// device, session, token id, or tokens issued before a time.
func TestCloseMatchingSelectsSessions(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	specs := []SessionSpec{
		{ID: "a1", User: "alice", Device: "phone", TokenID: "j1", IssuedAt: t0.Unix()},
		{ID: "a2", User: "alice", Device: "laptop", TokenID: "j2", IssuedAt: t0.Add(time.Hour).Unix()},
		{ID: "b1", User: "bob", Device: "phone", TokenID: "j3"},
	}
	cases := []struct {
		name string
		m    Match
		want []string // ids closed
	}{
		{"user", Match{User: "alice"}, []string{"a1", "a2"}},
		{"device", Match{User: "alice", Device: "laptop"}, []string{"a2"}},
		{"session", Match{User: "alice", Session: "a1"}, []string{"a1"}},
		{"jti", Match{TokenID: "j3"}, []string{"b1"}},
		{"issued before", Match{User: "alice", IssuedBefore: t0.Add(time.Minute)}, []string{"a1"}},
		{"no iat counts as issued before", Match{User: "bob", IssuedBefore: t0}, []string{"b1"}},
		{"nobody", Match{User: "carol"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			socks := map[string]*recSocket{}
			for _, spec := range specs {
				_, socks[spec.ID] = h.open(spec)
			}
			h.announced(wire.User("alice"), 2)
			h.announced(wire.User("bob"), 1)
			h.sys.CloseMatching(tc.m, wire.CloseDisconnected, "bye")
			for _, id := range tc.want {
				select {
				case code := <-socks[id].closed:
					if code != wire.CloseDisconnected {
						t.Fatalf("%s closed with %d", id, code)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("%s not closed", id)
				}
				delete(socks, id)
			}
			time.Sleep(50 * time.Millisecond) // a wrong close would come with the right ones
			for id, s := range socks {
				select {
				case code := <-s.closed:
					t.Fatalf("%s closed with %d, not selected", id, code)
				default:
				}
			}
		})
	}
}
