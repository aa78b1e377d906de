// Package wire is Herald's client protocol (docs/PROTOCOL.md sections 3 to 6) as Go
// types: the frames a session writes and reads, offsets, recipients, error codes
// and close codes.
//
// # Role
//
// It is the one definition of the wire format that the server (streams, actors,
// gateway), the Go client SDK (client) and the bench share, so that a change of
// the format is made in one place and shows up in every side's tests. Encoders
// that run once per push (Push.AppendFrame, AppendString) are hand-written; the
// rest use encoding/json.
//
// # Goroutines
//
// None: every function runs on its caller's goroutine, and the package holds no
// state, so everything in it is safe for concurrent use (a Push must not be
// changed once Encode made its frame and it is shared).
//
// # Imports
//
// wire is a leaf: it imports the standard library only, and no package of Herald,
// so that every other package can import it without a cycle.
package wire
