package streams_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

// On Redis Cluster, WAIT goes to each master after the pipeline, on a marker key
// it writes first: the marker must be in the slot of the key it stands for (else
// the WAIT would ask another master) and under the key prefix (the ACL rule).
func TestWaitMarkerSharesTheSlot(t *testing.T) {
	t.Parallel()
	k := streams.NewKeys("herald", 4)
	keys := []string{
		k.Ingress(0), k.Ingress(3), k.Lease(2), k.DeadLetters(), k.History(wire.User("alice")),
		k.History(wire.Topic("news")), k.Presence(wire.User("b}o{b")), k.Inbox("n1"), k.AckDue(),
		k.Undelivered(), k.NodeRecipients("n1"), k.Cursors("alice"), streams.NewKeys("herald", 1).Ingress(0),
	}
	for _, key := range keys {
		m := streams.WaitMarker(key)
		if got, want := crc16xmodem(hashTag(m))%16384, crc16xmodem(hashTag(key))%16384; got != want {
			t.Errorf("marker %q in slot %d, key %q in slot %d", m, got, key, want)
		}
		if m == key || m[:len("herald:")] != "herald:" {
			t.Errorf("marker %q of %q: not a key of its own under the prefix", m, key)
		}
	}
}

// The key of each command the router, the presence writer and the publisher send.
func TestCommandKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		cmd  redis.Cmder
		want string
	}{
		{redis.NewCmd(ctx, "xadd", "herald:{u:a}:h", "*", "f", "v"), "herald:{u:a}:h"},
		{redis.NewCmd(ctx, "evalsha", "abc", 2, "herald:{herald:in}:lease", "herald:in"), "herald:{herald:in}:lease"},
		{redis.NewCmd(ctx, "evalsha", "abc", "1", "herald:{u:a}:p", "x"), "herald:{u:a}:p"},
		{redis.NewCmd(ctx, "evalsha", "abc", 0), ""},
		{redis.NewCmd(ctx, "wait", 1, 100), ""},
		{redis.NewCmd(ctx, "xreadgroup", "group", "g", "c", "streams", "herald:in", ">"), ""},
		{redis.NewCmd(ctx, "ZADD", "herald:ackwait", 1, "m"), "herald:ackwait"},
	}
	for _, tt := range tests {
		got, _ := streams.CommandKey(tt.cmd)
		if got != tt.want {
			t.Errorf("CommandKey(%v) = %q, want %q", tt.cmd.Args(), got, tt.want)
		}
	}
}

// On Redis Cluster each WAIT must go to the master that took the write: with the
// replica of one shard down, a publish whose ingress stream lives on that shard is
// not confirmed, while publishes to streams on the other shards are. A WAIT sent
// to any other master (or a marker in another slot) would confirm the first or
// refuse the others.
func TestClusterWaitAsksTheMasterOfTheWrite(t *testing.T) {
	t.Parallel()
	cl := redistest.StartHACluster(t, redistest.Options{})
	keys := streams.NewKeys("herald", 3) // the partitions' streams spread over the masters
	users := usersByShard(t, cl, keys)
	pb := streams.NewPublisher(cl.Client(t), keys, 1024, nil)
	pb.WaitReplicas(1, 200*time.Millisecond)
	down := cl.ShardOf(t, keys.IngressFor(wire.User(users[0])))
	down.Replica.Kill()
	if _, err := pb.Publish(testCtx(t), streams.Publication{To: users[0], Data: []byte(`{}`)}); !errors.Is(err, streams.ErrNotReplicated) {
		t.Fatalf("publish to %s (its stream's master has no replica): %v, want ErrNotReplicated", users[0], err)
	}
	for _, u := range users[1:] {
		testkit.Eventually(t, waitLong, func() error { // a loaded replica may miss one WAIT
			_, err := pb.Publish(testCtx(t), streams.Publication{To: u, Data: []byte(`{}`)})
			return err
		})
	}
}

// usersByShard finds one user per master whose ingress stream lives there.
func usersByShard(t *testing.T, cl *redistest.HACluster, keys streams.Keys) []string {
	t.Helper()
	byMaster := map[string]string{}
	var users []string
	for i := 0; len(users) < 3 && i < 1000; i++ {
		u := fmt.Sprintf("u%d", i)
		m := cl.ShardOf(t, keys.IngressFor(wire.User(u))).Master.Addr
		if _, ok := byMaster[m]; !ok {
			byMaster[m] = u
			users = append(users, u)
		}
	}
	if len(users) < 3 {
		t.Fatalf("ingress partitions on %d masters only: %v", len(users), byMaster)
	}
	return users
}
