package streams_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

// inboxEntry is an inbox entry as a router writes it for recipient r at offset off.
func inboxEntry(r wire.Recipient, off, data string, extra ...string) []string {
	return append([]string{"id", "m-" + off, "data", data, "ts", "1700000000000", "r", r.String(), "o", off}, extra...)
}

func inboxValues(r wire.Recipient, off, data string) []any {
	var v []any
	for _, s := range inboxEntry(r, off, data) {
		v = append(v, s)
	}
	return v
}

// Pushes from the node inbox reach the sink; they are acknowledged only once the
// sink's written callback ran.
func TestInboxAcksAfterWritten(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stream := e.keys.Inbox("n1")
	xadd(t, e.rdb, stream, inboxEntry(wire.User("bob"), "1700000000001-0", `{"a":1}`, "from", "carol", "exp", "1700000099999")...)
	last := xadd(t, e.rdb, stream, inboxEntry(wire.Topic("news"), "1700000000002-3", `"x"`)...)
	sink := &fakeSink{hold: true}
	e.startInbox(t, "n1", sink)

	got := sink.waitPushes(t, 2)
	want := []wire.Push{
		{Recipient: wire.User("bob"), ID: "m-1700000000001-0", Offset: wire.MustOffset("1700000000001-0"), From: "carol", TS: 1700000000000, Expire: 1700000099999, Data: []byte(`{"a":1}`)},
		{Recipient: wire.Topic("news"), ID: "m-1700000000002-3", Offset: wire.MustOffset("1700000000002-3"), TS: 1700000000000, Data: []byte(`"x"`)},
	}
	for i, w := range want {
		w.Encode()
		if !reflect.DeepEqual(*got[i], w) {
			t.Errorf("push %d\n got %+v\nwant %+v", i, *got[i], w)
		}
	}
	// Read, not written yet: still pending.
	if n := pendingCount(t, e.rdb, stream, "node"); n != 2 {
		t.Fatalf("%d pending before written, want 2", n)
	}
	sink.release()
	waitGroupDone(t, e.rdb, stream, "node", last)
	if n := counter(t, e.metrics.InboxRead); n != 2 {
		t.Errorf("InboxRead = %v, want 2", n)
	}
	if err := e.health.Ready(); err != nil {
		t.Errorf("health: %v", err)
	}
}

// Garbage in an inbox goes to the dead-letter stream and is acknowledged; the
// valid entries of the same batch are delivered.
func TestInboxDeadLettersGarbage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stream := e.keys.Inbox("n1")
	garbage := []struct {
		fields []string
		reason string
	}{
		{[]string{"foo", "bar"}, "without a valid recipient"},
		{inboxEntry(wire.User("bob"), "1-0", "1")[:8], "without a valid offset"}, // no o
		{[]string{"r", "x:bob", "o", "1-0", "id", "i", "data", "1"}, "without a valid recipient"},
		{[]string{"r", "u:b b", "o", "1-0", "id", "i", "data", "1"}, "without a valid recipient"},
		{[]string{"r", "u:bob", "o", "soon", "id", "i", "data", "1"}, "without a valid offset"},
		{[]string{"r", "u:bob", "o", "2-0", "data", "1"}, "without id or valid data"},
		{[]string{"r", "u:bob", "o", "2-0", "id", "i"}, "without id or valid data"},
		{[]string{"r", "u:bob", "o", "2-0", "id", "i", "data", "{nope"}, "without id or valid data"},
	}
	xadd(t, e.rdb, stream, inboxEntry(wire.User("bob"), "5-0", `"ok1"`)...)
	var gids []string
	for _, g := range garbage {
		gids = append(gids, xadd(t, e.rdb, stream, g.fields...))
	}
	last := xadd(t, e.rdb, stream, inboxEntry(wire.User("bob"), "6-0", `"ok2"`)...)
	sink := &fakeSink{}
	e.startInbox(t, "n1", sink)
	waitGroupDone(t, e.rdb, stream, "node", last)

	if got := dataOf(sink.pushes()); !reflect.DeepEqual(got, []string{`"ok1"`, `"ok2"`}) {
		t.Fatalf("delivered %v", got)
	}
	dlq := xrange(t, e.rdb, "herald:dlq")
	if len(dlq) != len(garbage) {
		t.Fatalf("DLQ holds %d, want %d", len(dlq), len(garbage))
	}
	for i, m := range dlq {
		if r, _ := m.Values["reason"].(string); !strings.Contains(r, garbage[i].reason) {
			t.Errorf("DLQ %d reason %q, want %q", i, r, garbage[i].reason)
		}
		var orig map[string]string
		if err := json.Unmarshal([]byte(m.Values["entry"].(string)), &orig); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		for j := 0; j < len(garbage[i].fields); j += 2 {
			want[garbage[i].fields[j]] = garbage[i].fields[j+1]
		}
		if !reflect.DeepEqual(orig, want) || m.Values["id"] != gids[i] || m.Values["stream"] != stream {
			t.Errorf("DLQ %d = %v, want entry %v id %s", i, m.Values, want, gids[i])
		}
	}
	if n := counter(t, e.metrics.InboxBad); n != float64(len(garbage)) {
		t.Errorf("InboxBad = %v", n)
	}
	if n := counter(t, e.metrics.DeadLetters.WithLabelValues("bad_inbox_entry")); n != float64(len(garbage)) {
		t.Errorf("dead letters bad_inbox_entry = %v", n)
	}
}

// Entries a previous run of this node read and never acknowledged are delivered
// by the next run.
func TestInboxDeliversOwnPendingAfterRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	stream := e.keys.Inbox("n1")
	if err := e.rdb.XGroupCreateMkStream(ctx, stream, "node", "0").Err(); err != nil {
		t.Fatal(err)
	}
	xadd(t, e.rdb, stream, inboxEntry(wire.User("bob"), "1-0", "1")...)
	xadd(t, e.rdb, stream, inboxEntry(wire.User("bob"), "2-0", "2")...)
	// The previous run read both and died before writing them.
	if err := e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "node", Consumer: "n1", Streams: []string{stream, ">"}}).Err(); err != nil {
		t.Fatal(err)
	}
	last := xadd(t, e.rdb, stream, inboxEntry(wire.User("bob"), "3-0", "3")...)
	sink := &fakeSink{}
	e.startInbox(t, "n1", sink)
	waitGroupDone(t, e.rdb, stream, "node", last)
	got := dataOf(sink.pushes())
	seen := map[string]bool{}
	for _, d := range got {
		seen[d] = true
	}
	if !seen["1"] || !seen["2"] || !seen["3"] {
		t.Fatalf("delivered %v, want 1 2 3", got)
	}
}

// While the own pending entries of a previous run are being written (not yet
// acknowledged), the reader must not hand them over again and again.
func TestInboxOwnPendingDeliveredOnce(t *testing.T) {
	t.Parallel()

	e := newEnv(t)
	ctx := testCtx(t)
	stream := e.keys.Inbox("n1")
	if err := e.rdb.XGroupCreateMkStream(ctx, stream, "node", "0").Err(); err != nil {
		t.Fatal(err)
	}
	xadd(t, e.rdb, stream, inboxEntry(wire.User("bob"), "1-0", `"old"`)...)
	if err := e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "node", Consumer: "n1", Streams: []string{stream, ">"}}).Err(); err != nil {
		t.Fatal(err)
	}
	sink := &fakeSink{hold: true} // the sessions are slow to write
	e.startInbox(t, "n1", sink)
	sink.waitPushes(t, 1)
	// A new entry: the next batch must be it, not the old one again.
	last := xadd(t, e.rdb, stream, inboxEntry(wire.User("bob"), "2-0", `"new"`)...)
	got := sink.waitPushes(t, 2)
	sink.release()
	waitGroupDone(t, e.rdb, stream, "node", last)
	if d := dataOf(got[:2]); !reflect.DeepEqual(d, []string{`"old"`, `"new"`}) {
		t.Fatalf("delivered %v (%d batches), want old then new", dataOf(sink.pushes()), sink.batchCount())
	}
}

// Stop waits for the batches in flight: once it returns they are acknowledged.
func TestInboxStopWaitsForInflight(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stream := e.keys.Inbox("n1")
	last := xadd(t, e.rdb, stream, inboxEntry(wire.User("bob"), "1-0", "1")...)
	sink := &fakeSink{hold: true}
	stop := e.startInbox(t, "n1", sink)
	sink.waitPushes(t, 1)
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	sink.release()
	<-stopped
	if err := groupDone(testCtx(t), e.rdb, stream, "node", last); err != nil {
		t.Fatalf("after Stop: %v", err)
	}
}

// The inbox stream may vanish (Redis restarted without persistence); the reader
// recreates its group.
func TestInboxRecoversFromNoGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stream := e.keys.Inbox("n1")
	sink := &fakeSink{}
	e.startInbox(t, "n1", sink)
	first := xadd(t, e.rdb, stream, inboxEntry(wire.User("bob"), "1-0", `"before"`)...)
	waitGroupDone(t, e.rdb, stream, "node", first)
	if err := e.rdb.Del(testCtx(t), stream).Err(); err != nil {
		t.Fatal(err)
	}
	after := xadd(t, e.rdb, stream, inboxEntry(wire.User("bob"), "2-0", `"after"`)...)
	waitGroupDone(t, e.rdb, stream, "node", after)
	if got := dataOf(sink.pushes()); !reflect.DeepEqual(got, []string{`"before"`, `"after"`}) {
		t.Fatalf("delivered %v", got)
	}
}

// A failed dead-letter write (here: herald:dlq holds a string, so XADD fails with
// WRONGTYPE) must not lose the rest of the batch: once the DLQ works again, the
// valid entry read with the garbage is delivered and everything is acknowledged.
func TestInboxDeadLetterFailureKeepsBatch(t *testing.T) {
	t.Parallel()

	e := newEnv(t)
	ctx := testCtx(t)
	stream := e.keys.Inbox("n1")
	if err := e.rdb.Set(ctx, "herald:dlq", "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	sink := &fakeSink{}
	e.startInbox(t, "n1", sink)
	testkit.Eventually(t, waitLong, e.health.Ready) // past the initial read of its own pending entries
	// Both in one MULTI, so that they are read in one batch.
	var add *redis.StringCmd
	if _, err := e.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"foo", "bar"}})
		add = pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: inboxValues(wire.User("bob"), "1-0", `"ok"`)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	last := add.Val()
	testkit.Eventually(t, waitLong, func() error {
		if counter(t, e.metrics.RedisErrors.WithLabelValues("dead_letter")) < 1 {
			return errNotYet
		}
		return nil
	})
	if err := e.rdb.Del(ctx, "herald:dlq").Err(); err != nil { // the outage ends
		t.Fatal(err)
	}
	waitGroupDone(t, e.rdb, stream, "node", last)
	if got := dataOf(sink.pushes()); !reflect.DeepEqual(got, []string{`"ok"`}) {
		t.Fatalf("delivered %v", got)
	}
}

// When the inbox's group vanished (Redis lost its data) the reader calls OnReset,
// so that the node registers its presence again.
func TestInboxOnReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stream := e.keys.Inbox("n1")
	resets := make(chan struct{}, 10)
	sink := &fakeSink{}
	in := streams.NewInbox(e.rdb, e.keys, streams.InboxConfig{
		Node: "n1", ReadCount: 10, Block: 50 * time.Millisecond, DLQMaxLen: 1000,
		OnReset: func() { resets <- struct{}{} },
	}, sink, e.log, e.metrics, e.health)
	in.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := in.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	first := xadd(t, e.rdb, stream, inboxEntry(wire.User("bob"), "1-0", "1")...)
	waitGroupDone(t, e.rdb, stream, "node", first)
	if len(resets) != 0 {
		t.Fatal("OnReset ran at start")
	}
	if err := e.rdb.FlushAll(testCtx(t)).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-resets:
	case <-time.After(waitLong):
		t.Fatal("OnReset never ran after the group vanished")
	}
	after := xadd(t, e.rdb, stream, inboxEntry(wire.User("bob"), "2-0", "2")...)
	waitGroupDone(t, e.rdb, stream, "node", after)
	if got := dataOf(sink.pushes()); !reflect.DeepEqual(got, []string{"1", "2"}) {
		t.Fatalf("delivered %v", got)
	}
}
