package redistest_test

import (
	"strconv"
	"testing"

	"github.com/herald-push/herald/streams/redisserver"
	"github.com/herald-push/herald/streams/redistest"
)

// The harness runs Redis with the stream-node-max-bytes docs/OPERATIONS.md
// recommends, so that every test exercises it; a test may ask for another.
func TestServersRunTheRecommendedStreamNodeSize(t *testing.T) {
	t.Parallel()
	want := strconv.Itoa(redisserver.RecommendedStreamNodeMaxBytes)
	s := redistest.Start(t, redistest.Options{})
	if got := s.Client(t).ConfigGet(ctx(t), "stream-node-max-bytes").Val()["stream-node-max-bytes"]; got != want {
		t.Errorf("stream-node-max-bytes = %q, want %s", got, want)
	}
	d := redistest.Start(t, redistest.Options{Args: []string{"--stream-node-max-bytes", "4096"}})
	if got := d.Client(t).ConfigGet(ctx(t), "stream-node-max-bytes").Val()["stream-node-max-bytes"]; got != "4096" {
		t.Errorf("overridden: stream-node-max-bytes = %q, want 4096", got)
	}
}
