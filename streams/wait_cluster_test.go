package streams_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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

// With redis.wait_replicas on a Cluster whose masters have no replica, no publish
// is confirmed, whichever master its stream lives on: the WAIT went to a master
// (one that confirmed nothing). That it goes to the right one, and confirms once
// replicas have the writes, is held by the Cluster failover tests.
func TestClusterWaitWithoutReplicas(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t)
	cc := cl.Client(t)
	keys := streams.NewKeys("herald", 1)
	pb := streams.NewPublisher(cc, keys, 1024, nil)
	pb.WaitReplicas(1, 50*time.Millisecond)
	for _, user := range []string{"alice", "bob", "carol", "dave"} {
		_, err := pb.Publish(testCtx(t), streams.Publication{To: user, Data: []byte(`{}`)})
		if !errors.Is(err, streams.ErrNotReplicated) {
			t.Fatalf("Publish to %s without replicas: %v, want ErrNotReplicated", user, err)
		}
	}
	pb.WaitReplicas(0, 0)
	if _, err := pb.Publish(testCtx(t), streams.Publication{To: "alice", Data: []byte(`{}`)}); err != nil {
		t.Fatalf("Publish without WAIT: %v", err)
	}
}
