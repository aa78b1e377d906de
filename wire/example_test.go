package wire_test

import (
	"fmt"

	"github.com/herald-push/herald/wire"
)

// A client resumes with the newest offset it saw; offsets compare numerically,
// not as text.
func ExampleParseOffset() {
	a, _ := wire.ParseOffset("1700000000000-9")
	b, _ := wire.ParseOffset("1700000000000-10")
	fmt.Println(a.Less(b), a.Next())
	_, err := wire.ParseOffset("yesterday")
	fmt.Println(err)
	// Output:
	// true 1700000000000-10
	// wire: bad offset
}

// The frame a session writes for one push, built once and shared by every
// session of the recipient.
func ExamplePush_AppendFrame() {
	p := wire.Push{
		Recipient: wire.User("alice"),
		ID:        "order-42",
		Offset:    wire.Offset{Ms: 1700000000000, Seq: 0},
		From:      "bob",
		TS:        1700000000000,
		Data:      []byte(`{"text":"hi"}`),
	}
	fmt.Println(string(p.AppendFrame(nil)))
	// Output:
	// {"type":"push","id":"order-42","offset":"1700000000000-0","to":"alice","from":"bob","ts":1700000000000,"data":{"text":"hi"}}
}
