package streams_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
)

// An undelivered event whose append fails (here herald:undelivered holds a
// string) is not lost: its offset stays waiting, claimed, and is emitted once
// the append works again.
func TestUndeliveredEventIsRetriedAfterAFailedAppend(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	if err := e.rdb.Set(ctx, "herald:undelivered", "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	off, err := e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: "herald:{u:alice}:h", Values: []any{"id", "m1", "data", `"hi"`, "ts", "1"}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	due := float64(time.Now().UnixMilli())
	if err := e.rdb.ZAdd(ctx, "herald:{u:alice}:w", redis.Z{Score: due, Member: off}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.ZAdd(ctx, "herald:ackwait", redis.Z{Score: due, Member: "alice"}).Err(); err != nil {
		t.Fatal(err)
	}
	u := streams.NewUndelivered(e.rdb, e.keys, time.Second, e.log, e.metrics)
	streams.SetUndeliveredClaim(u, 500*time.Millisecond)
	u.Start()
	t.Cleanup(func() { u.Stop(context.Background()) })

	time.Sleep(2500 * time.Millisecond) // a few failed attempts
	if n := e.rdb.ZCard(ctx, "herald:{u:alice}:w").Val(); n != 1 {
		t.Fatalf("%d offsets waiting after failed appends, want the one", n)
	}
	if err := e.rdb.Del(ctx, "herald:undelivered").Err(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, waitLong, func() error {
		msgs := xrange(t, e.rdb, "herald:undelivered")
		if len(msgs) == 0 {
			return errNotYet
		}
		if v := msgs[0].Values; v["to"] != "alice" || v["offset"] != off || v["id"] != "m1" {
			return fmt.Errorf("event %v", v)
		}
		return nil
	})
	testkit.Eventually(t, waitLong, func() error {
		if n := e.rdb.ZCard(ctx, "herald:{u:alice}:w").Val(); n != 0 {
			return fmt.Errorf("%d offsets still waiting after the event", n)
		}
		return nil
	})
}
