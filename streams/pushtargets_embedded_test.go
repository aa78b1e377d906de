package streams_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

// Put and Remove are Lua scripts: the embedded store (the zero-setup mode) runs
// them too, and the hash gets its expiry.
func TestPushTargetsOnTheEmbeddedStore(t *testing.T) {
	emb, err := streams.StartEmbedded("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	rdb := redis.NewClient(&redis.Options{Addr: emb.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	keys := streams.NewKeys("herald", 1)
	store := streams.NewPushTargets(rdb, keys, time.Hour)
	if err := store.Put(ctx, "alice", "phone", wire.PushTarget{Kind: wire.KindFCM, Token: "t"}); err != nil {
		t.Fatal(err)
	}
	if got, err := store.List(ctx, "alice"); err != nil || len(got) != 1 || got[0].Target.Token != "t" {
		t.Fatalf("List: %+v %v", got, err)
	}
	if ttl := rdb.PTTL(ctx, keys.PushTargets("alice")).Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("TTL %v", ttl)
	}
	if err := store.Remove(ctx, "alice", "phone", ""); err != nil {
		t.Fatal(err)
	}
	if got, err := store.List(ctx, "alice"); err != nil || len(got) != 0 {
		t.Fatalf("after Remove: %+v %v", got, err)
	}
}
