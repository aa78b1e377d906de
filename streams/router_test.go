package streams_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

const ingress = "herald:in"

func setPresence(t testing.TB, e *env, r wire.Recipient, nodes ...string) {
	t.Helper()
	members := make([]any, len(nodes))
	for i, n := range nodes {
		members[i] = n
	}
	if err := e.rdb.SAdd(testCtx(t), e.keys.Presence(r), members...).Err(); err != nil {
		t.Fatal(err)
	}
}

// Valid entries land in the recipient's history, trimmed exactly to history.size,
// and are all acknowledged.
func TestRouterAppendsHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := routerConfig("self")
	cfg.HistorySize = 5
	var ids []string
	for i := 0; i < 8; i++ {
		ids = append(ids, xadd(t, e.rdb, ingress, "to", "alice", "data", fmt.Sprintf(`{"n":%d}`, i)))
	}
	sink := &fakeSink{}
	e.startRouter(t, cfg, sink)
	waitGroupDone(t, e.rdb, ingress, "router", ids[len(ids)-1])

	hist := xrange(t, e.rdb, "herald:{u:alice}:h")
	if len(hist) != 5 {
		t.Fatalf("history holds %d entries, want exactly history.size = 5", len(hist))
	}
	for i, m := range hist {
		n := i + 3
		want := map[string]any{"id": ids[n], "data": fmt.Sprintf(`{"n":%d}`, n), "ts": fmt.Sprint(wire.MustOffset(ids[n]).Ms)}
		if !reflect.DeepEqual(m.Values, want) {
			t.Errorf("history entry %d = %v, want %v", i, m.Values, want)
		}
		if i > 0 && !wire.MustOffset(hist[i-1].ID).Less(wire.MustOffset(m.ID)) {
			t.Errorf("history out of order")
		}
	}
	if ttl := e.rdb.PTTL(testCtx(t), "herald:{u:alice}:h").Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("history PTTL %v, want history.ttl (1h)", ttl)
	}
	if n := pendingCount(t, e.rdb, ingress, "router"); n != 0 {
		t.Errorf("%d ingress entries still pending", n)
	}
	if got := len(sink.pushes()); got != 0 {
		t.Errorf("nobody present, yet the local sink got %d pushes", got)
	}
	if got := counter(t, e.metrics.PushesIn); got != 8 {
		t.Errorf("PushesIn = %v, want 8", got)
	}
	if err := e.health.Ready(); err != nil {
		t.Errorf("health: %v", err)
	}
}

// Each invalid entry is moved to the dead-letter stream with its reason and fields,
// and acknowledged; the valid entries around it are delivered, in order.
func TestRouterDeadLetters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := routerConfig("self")
	cfg.MaxPayload = 32
	setPresence(t, e, wire.User("alice"), "self")
	type entry struct {
		fields []string
		reason string // "" for valid
		class  string
	}
	entries := []entry{
		{fields: []string{"to", "alice", "data", `"v1"`}},
		{fields: []string{"to", "alice"}, reason: "missing data", class: "invalid_data"},
		{fields: []string{"to", "alice", "data", `"v2"`}},
		{fields: []string{"to", "alice", "topic", "news", "data", `1`}, reason: "both to and topic", class: "invalid_both"},
		{fields: []string{"data", `1`}, reason: "neither to nor topic", class: "invalid_neither"},
		{fields: []string{"to", "alice", "data", `{nope`}, reason: "data is not JSON", class: "invalid_data"},
		{fields: []string{"to", "alice", "data", `"` + strings.Repeat("x", 40) + `"`}, reason: "payload too large", class: "invalid_payload"},
		{fields: []string{"to", "al ice", "data", `1`}, reason: "bad user id", class: "invalid_user"},
		{fields: []string{"topic", "a/b", "data", `1`}, reason: "bad topic name", class: "invalid_topic"},
		{fields: []string{"to", "alice", "data", `1`, "from", "b b"}, reason: "bad from", class: "invalid_from"},
		{fields: []string{"to", "alice", "data", `1`, "ttl", "x"}, reason: "bad ttl", class: "invalid_ttl"},
		{fields: []string{"to", "alice", "data", `1`, "id", ""}, reason: "bad id", class: "invalid_id"},
		{fields: []string{"to", "alice", "data", `"v3"`}},
	}
	ids := make([]string, len(entries))
	for i, en := range entries {
		ids[i] = xadd(t, e.rdb, ingress, en.fields...)
	}
	sink := &fakeSink{}
	e.startRouter(t, cfg, sink)
	waitGroupDone(t, e.rdb, ingress, "router", ids[len(ids)-1])

	if got := dataOf(sink.waitPushes(t, 3)); !reflect.DeepEqual(got, []string{`"v1"`, `"v2"`, `"v3"`}) {
		t.Fatalf("delivered %v, want v1 v2 v3 in order", got)
	}
	dlq := xrange(t, e.rdb, "herald:dlq")
	var dead []entry
	var deadIDs []string
	for i, en := range entries {
		if en.reason != "" {
			dead = append(dead, en)
			deadIDs = append(deadIDs, ids[i])
		}
	}
	if len(dlq) != len(dead) {
		t.Fatalf("DLQ holds %d entries, want %d: %v", len(dlq), len(dead), dlq)
	}
	classes := map[string]float64{}
	for i, m := range dlq {
		reason, _ := m.Values["reason"].(string)
		if !strings.Contains(reason, dead[i].reason) {
			t.Errorf("DLQ entry %d reason %q, want %q", i, reason, dead[i].reason)
		}
		var orig map[string]string
		if err := json.Unmarshal([]byte(m.Values["entry"].(string)), &orig); err != nil {
			t.Fatalf("DLQ entry field %q: %v", m.Values["entry"], err)
		}
		want := map[string]string{}
		for j := 0; j < len(dead[i].fields); j += 2 {
			want[dead[i].fields[j]] = dead[i].fields[j+1]
		}
		if !reflect.DeepEqual(orig, want) {
			t.Errorf("DLQ entry %d holds %v, want the original fields %v", i, orig, want)
		}
		if m.Values["id"] != deadIDs[i] || m.Values["stream"] != ingress {
			t.Errorf("DLQ entry %d id %v stream %v, want %s %s", i, m.Values["id"], m.Values["stream"], deadIDs[i], ingress)
		}
		classes[dead[i].class]++
	}
	for class, n := range classes {
		if got := counter(t, e.metrics.DeadLetters.WithLabelValues(class)); got != n {
			t.Errorf("dead letters %s = %v, want %v", class, got, n)
		}
	}
	if n := pendingCount(t, e.rdb, ingress, "router"); n != 0 {
		t.Errorf("%d entries still pending", n)
	}
	if n := e.rdb.XLen(testCtx(t), "herald:{u:alice}:h").Val(); n != 3 {
		t.Errorf("history of alice has %d entries, want the 3 valid ones", n)
	}
}

// A push goes to the nodes in the recipient's presence set: this node's own sink
// directly, other nodes through their inbox streams; with nobody, only to history.
func TestRouterPresenceRouting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := routerConfig("self")
	tests := []struct {
		r     wire.Recipient
		nodes []string
		local bool
		inbox []string
	}{
		{wire.User("bob"), []string{"other-node"}, false, []string{"other-node"}},
		{wire.User("carol"), []string{"self"}, true, nil},
		{wire.User("dave"), nil, false, nil},
		{wire.User("erin"), []string{"self", "other-node", "third"}, true, []string{"other-node", "third"}},
		{wire.Topic("news"), []string{"third"}, false, []string{"third"}},
		{wire.Topic("sport"), []string{"self"}, true, nil},
	}
	ids := map[wire.Recipient]string{}
	var last string
	for _, tt := range tests {
		if len(tt.nodes) > 0 {
			setPresence(t, e, tt.r, tt.nodes...)
		}
		field := "to"
		if tt.r.Kind == wire.KindTopic {
			field = "topic"
		}
		last = xadd(t, e.rdb, ingress, field, tt.r.Name, "data", `{"for":"`+tt.r.String()+`"}`, "from", "zed")
		ids[tt.r] = last
	}
	sink := &fakeSink{}
	e.startRouter(t, cfg, sink)
	waitGroupDone(t, e.rdb, ingress, "router", last)

	local := map[wire.Recipient]*wire.Push{}
	for _, p := range sink.pushes() {
		if local[p.Recipient] != nil {
			t.Errorf("%v delivered locally twice", p.Recipient)
		}
		local[p.Recipient] = p
	}
	inboxes := map[string]map[wire.Recipient]redis.XMessage{}
	for _, n := range []string{"other-node", "third", "self"} {
		inboxes[n] = map[wire.Recipient]redis.XMessage{}
		for _, m := range xrange(t, e.rdb, e.keys.Inbox(n)) {
			r, err := wire.ParseRecipient(m.Values["r"].(string))
			if err != nil {
				t.Fatalf("inbox entry %v: %v", m.Values, err)
			}
			inboxes[n][r] = m
		}
	}
	if len(inboxes["self"]) != 0 {
		t.Errorf("the router wrote to its own inbox: %v", inboxes["self"])
	}
	for _, tt := range tests {
		t.Run(tt.r.String(), func(t *testing.T) {
			hist := xrange(t, e.rdb, e.keys.History(tt.r))
			if len(hist) != 1 {
				t.Fatalf("history of %v holds %d entries, want 1", tt.r, len(hist))
			}
			offset := hist[0].ID
			p := local[tt.r]
			if tt.local != (p != nil) {
				t.Fatalf("local delivery %v, want %v", p != nil, tt.local)
			}
			if p != nil {
				if p.Offset.String() != offset || p.ID != ids[tt.r] || p.From != "zed" || p.TS != int64(wire.MustOffset(ids[tt.r]).Ms) {
					t.Fatalf("local push %+v, want offset %s id %s", p, offset, ids[tt.r])
				}
				if want := p.AppendFrame(nil); string(p.Frame) != string(want) {
					t.Fatalf("push not encoded: Frame %q, want %q", p.Frame, want)
				}
			}
			for _, n := range []string{"other-node", "third"} {
				m, ok := inboxes[n][tt.r]
				want := false
				for _, w := range tt.inbox {
					want = want || w == n
				}
				if ok != want {
					t.Fatalf("inbox of %s has an entry for %v: %v, want %v", n, tt.r, ok, want)
				}
				if !ok {
					continue
				}
				wantFields := map[string]any{
					"r": tt.r.String(), "o": offset, "id": ids[tt.r], "from": "zed",
					"data": `{"for":"` + tt.r.String() + `"}`, "ts": fmt.Sprint(wire.MustOffset(ids[tt.r]).Ms),
				}
				if !reflect.DeepEqual(m.Values, wantFields) {
					t.Fatalf("inbox entry %v, want %v", m.Values, wantFields)
				}
			}
		})
	}
}

// The ingress stream or its group may vanish (Redis restarted without persistence,
// someone deleted the key); the router recreates the group and keeps delivering.
func TestRouterRecoversFromNoGroup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		breakIt func(ctx context.Context, rdb *redis.Client) error
	}{
		{"stream deleted", func(ctx context.Context, rdb *redis.Client) error { return rdb.Del(ctx, ingress).Err() }},
		{"group destroyed", func(ctx context.Context, rdb *redis.Client) error {
			return rdb.XGroupDestroy(ctx, ingress, "router").Err()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := testCtx(t)
			setPresence(t, e, wire.User("alice"), "self")
			sink := &fakeSink{}
			e.startRouter(t, routerConfig("self"), sink)
			first := xadd(t, e.rdb, ingress, "to", "alice", "data", `"before"`)
			waitGroupDone(t, e.rdb, ingress, "router", first)
			if err := tt.breakIt(ctx, e.rdb); err != nil {
				t.Fatal(err)
			}
			after := xadd(t, e.rdb, ingress, "to", "alice", "data", `"after"`)
			testkit.Eventually(t, waitLong, func() error {
				for _, d := range dataOf(sink.pushes()) {
					if d == `"after"` {
						return nil
					}
				}
				return fmt.Errorf("delivered %v", dataOf(sink.pushes()))
			})
			waitGroupDone(t, e.rdb, ingress, "router", after)
		})
	}
}

// With several partitions, one loop per partition routes what the publisher put in it.
func TestRouterPartitions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	e.keys = streams.NewKeys("herald", 3)
	pub := streams.NewPublisher(e.rdb, e.keys, 1024, e.metrics)
	sink := &fakeSink{}
	want := map[wire.Recipient][]string{}
	perPartition := map[int]int{}
	for i := 0; i < 30; i++ {
		r := wire.User(fmt.Sprint("user", i%10))
		setPresence(t, e, r, "self")
		data := fmt.Sprint(i)
		if _, err := pub.Publish(ctx, streams.Publication{To: r.Name, Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
		want[r] = append(want[r], data)
		perPartition[e.keys.Partition(r)]++
	}
	if len(perPartition) < 2 {
		t.Fatalf("test users all map to one partition: %v", perPartition)
	}
	for p, n := range perPartition {
		if got := e.rdb.XLen(ctx, e.keys.Ingress(p)).Val(); got != int64(n) {
			t.Fatalf("partition %d stream holds %d, want %d", p, got, n)
		}
	}
	if n := e.rdb.Exists(ctx, "herald:in").Val(); n != 0 {
		t.Fatal("publisher wrote to herald:in with 3 partitions")
	}
	e.startRouter(t, routerConfig("self"), sink)
	got := map[wire.Recipient][]string{}
	for _, p := range sink.waitPushes(t, 30) {
		got[p.Recipient] = append(got[p.Recipient], string(p.Data))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("per-recipient delivery\n got %v\nwant %v", got, want)
	}
	for p := 0; p < 3; p++ {
		if n := e.rdb.Get(ctx, e.keys.Lease(p)).Val(); n != "self" {
			t.Fatalf("lease of partition %d held by %q", p, n)
		}
	}
}

// What the router writes to history is what History replays: same id, offset,
// from, ts, expiry and data as the live push.
func TestRouterHistoryReplayRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	setPresence(t, e, wire.User("alice"), "self")
	xadd(t, e.rdb, ingress, "to", "alice", "data", "{\n\"a\": 1\n}", "from", "bob", "ttl", "3600", "id", "m-1")
	last2 := xadd(t, e.rdb, ingress, "to", "alice", "data", `[1]`)
	sink := &fakeSink{}
	e.startRouter(t, routerConfig("self"), sink)
	live := sink.waitPushes(t, 2)
	waitGroupDone(t, e.rdb, ingress, "router", last2)

	h := streams.NewHistory(e.reads(t), e.keys, 5, func() int64 { return time.Now().UnixMilli() }, e.metrics)
	var replayed []*wire.Push
	_, complete, err := h.Replay(ctx, wire.User("alice"), wire.Offset{}, func(ps []*wire.Push) error {
		replayed = append(replayed, ps...)
		return nil
	})
	if err != nil || !complete {
		t.Fatalf("Replay: complete %v, %v", complete, err)
	}
	if len(replayed) != 2 {
		t.Fatalf("replayed %d pushes, want 2", len(replayed))
	}
	for i := range live {
		l, r := live[i], replayed[i]
		if l.Recipient != r.Recipient || l.ID != r.ID || l.Offset != r.Offset || l.From != r.From || l.TS != r.TS || l.Expire != r.Expire || string(l.Data) != string(r.Data) || string(l.Frame) != string(r.Frame) {
			t.Errorf("push %d live %+v\nreplayed %+v", i, l, r)
		}
	}
	if live[0].ID != "m-1" || string(live[0].Data) != `{"a":1}` || live[0].Expire != live[0].TS+3600_000 {
		t.Errorf("first push %+v", live[0])
	}
}

// With streams.block longer than the lease TTL the holder loses its lease while
// blocked in XREADGROUP, so two routers read the partition at once. The lease must
// stay with a live holder.
func TestRouterKeepsLeaseWhileBlocked(t *testing.T) {
	t.Parallel()

	e := newEnv(t)
	ctx := testCtx(t)
	cfg := func(node string) streams.RouterConfig {
		c := routerConfig(node)
		c.LeaseTTL = 300 * time.Millisecond // allowed: lease_ttl >= 100ms
		c.Block = 1500 * time.Millisecond   // allowed: streams.block <= 10s
		return c
	}
	e.startRouter(t, cfg("node-a"), &fakeSink{})
	e.startRouter(t, cfg("node-b"), &fakeSink{})
	var holder string
	testkit.Eventually(t, waitLong, func() error {
		if holder = e.rdb.Get(ctx, e.keys.Lease(0)).Val(); holder == "" {
			return errNotYet
		}
		return nil
	})
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got := e.rdb.Get(ctx, e.keys.Lease(0)).Val(); got != holder {
			t.Fatalf("lease moved from %q to %q while both routers run", holder, got)
		}
	}
}

// Per recipient, pushes arrive in publish order with increasing offsets, across
// many batches.
func TestRouterOrderPerRecipient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	users := []wire.Recipient{wire.User("u1"), wire.User("u2"), wire.Topic("t3")}
	for _, u := range users {
		setPresence(t, e, u, "self")
	}
	want := map[wire.Recipient][]string{}
	pipe := e.rdb.Pipeline()
	for i := 0; i < 120; i++ {
		r := users[i%len(users)]
		field := "to"
		if r.Kind == wire.KindTopic {
			field = "topic"
		}
		pipe.XAdd(testCtx(t), &redis.XAddArgs{Stream: ingress, Values: []any{field, r.Name, "data", fmt.Sprint(i)}})
		want[r] = append(want[r], fmt.Sprint(i))
	}
	if _, err := pipe.Exec(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	cfg := routerConfig("self")
	cfg.HistorySize = 1000
	sink := &fakeSink{}
	e.startRouter(t, cfg, sink)
	got := map[wire.Recipient][]string{}
	lastOff := map[wire.Recipient]wire.Offset{}
	for _, p := range sink.waitPushes(t, 120) {
		got[p.Recipient] = append(got[p.Recipient], string(p.Data))
		if !lastOff[p.Recipient].Less(p.Offset) {
			t.Fatalf("%v: offset %v after %v", p.Recipient, p.Offset, lastOff[p.Recipient])
		}
		lastOff[p.Recipient] = p.Offset
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("per-recipient order\n got %v\nwant %v", got, want)
	}
	if sink.batchCount() < 120/routerConfig("").ReadCount {
		t.Fatalf("%d batches: ReadCount not honoured", sink.batchCount())
	}
}
