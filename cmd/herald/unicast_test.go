package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/herald-push/herald/streams/redistest"
)

func TestUnicastReachesEverySessionOfTheUserOnly(t *testing.T) {
	n := startTestNode(t, redistest.Start(t, redistest.Options{}), nodeOptions{})
	alice1 := connect(t, n, "alice", "")
	alice2 := connect(t, n, "alice", "")
	bob := connect(t, n, "bob", "")

	const count = 50
	for i := 0; i < count; i++ {
		xadd(t, n, "to", "alice", "data", fmt.Sprintf(`{"seq":%d}`, i))
	}
	xadd(t, n, "to", "bob", "data", `{"for":"bob"}`, "from", "carol", "id", "m-1")

	for _, c := range []*wsClient{alice1, alice2} {
		got := c.pushes(count, 5*time.Second)
		for i, p := range got {
			data := p["data"].(map[string]any)
			if int(data["seq"].(float64)) != i || p.str("to") != "alice" || p.str("offset") == "" || p.str("id") == "" {
				t.Fatalf("push %d = %v, want seq %d to alice with id and offset", i, p, i)
			}
			if _, ok := p["ts"].(float64); !ok {
				t.Fatalf("push without ts: %v", p)
			}
		}
	}
	b := bob.pushes(1, 5*time.Second)[0]
	if b.str("id") != "m-1" || b.str("from") != "carol" || b.str("to") != "bob" {
		t.Fatalf("bob's push %v", b)
	}
	bob.quiet(200 * time.Millisecond)
	alice1.quiet(100 * time.Millisecond)
}
