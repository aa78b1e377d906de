package gateway

import (
	"testing"

	"go.uber.org/goleak"
)

// The tests that run real session actors (sessions_test.go) leave protoactor's
// dead-letter throttle behind: a package-level goroutine of protoactor, not ours.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}
