package streams

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/streams/redistest"
)

// A backlog every group has acknowledged is trimmed in one call, not 10,000
// entries at a time (XTRIM ~'s default LIMIT).
func TestTrimBehindDropsALargeBacklogAtOnce(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{}).Client(t)
	ctx := context.Background()
	const n = 50_000
	pipe := rdb.Pipeline()
	for i := 0; i < n; i++ {
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: "in", Values: []any{"f", "v"}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XGroupCreate(ctx, "in", groupRouter, "$").Err(); err != nil { // read and acked up to the end
		t.Fatal(err)
	}
	if err := trimBehind(ctx, rdb, "in"); err != nil {
		t.Fatal(err)
	}
	// Only the last node, which holds the newest entry, may stay.
	if l := rdb.XLen(ctx, "in").Val(); l > 100 {
		t.Fatalf("%d of %d acknowledged entries left after one trim", l, n)
	}
}
