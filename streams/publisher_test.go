package streams_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

func TestPublisherPublish(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    streams.Publication
		want map[string]any
	}{
		{"to", streams.Publication{To: "alice", Data: []byte(`{"text":"hi"}`)}, map[string]any{"to": "alice", "data": `{"text":"hi"}`}},
		{"topic", streams.Publication{Topic: "news", Data: []byte(`"x"`)}, map[string]any{"topic": "news", "data": `"x"`}},
		{
			"every field",
			streams.Publication{To: "alice", Data: []byte(`[1]`), ID: "msg-1", From: "bob", TTL: 60},
			map[string]any{"to": "alice", "data": `[1]`, "id": "msg-1", "from": "bob", "ttl": "60"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			pub := streams.NewPublisher(e.rdb, e.keys, 64, e.metrics)
			id, err := pub.Publish(testCtx(t), tt.p)
			if err != nil {
				t.Fatalf("Publish: %v", err)
			}
			msgs := xrange(t, e.rdb, "herald:in")
			if len(msgs) != 1 || msgs[0].ID != id {
				t.Fatalf("herald:in = %v, want one entry %s", msgs, id)
			}
			if !reflect.DeepEqual(msgs[0].Values, tt.want) {
				t.Fatalf("fields %v, want %v", msgs[0].Values, tt.want)
			}
			// The router accepts what the publisher wrote.
			if _, err := streams.ParseIngress(id, msgs[0].Values, 64); err != nil {
				t.Fatalf("the router would reject it: %v", err)
			}
		})
	}
}

// An invalid publication is refused with a Rejection and writes nothing.
func TestPublisherRejects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pub := streams.NewPublisher(e.rdb, e.keys, 64, e.metrics)
	tests := []struct {
		name   string
		p      streams.Publication
		reason string
	}{
		{"neither", streams.Publication{Data: []byte(`1`)}, "neither to nor topic"},
		{"both", streams.Publication{To: "a", Topic: "b", Data: []byte(`1`)}, "both to and topic"},
		{"no data", streams.Publication{To: "a"}, "data is not JSON"},
		{"data not JSON", streams.Publication{To: "a", Data: []byte(`{x}`)}, "data is not JSON"},
		{"oversize", streams.Publication{To: "a", Data: []byte(`"` + strings.Repeat("x", 64) + `"`)}, "payload too large"},
		{"bad user", streams.Publication{To: "a b", Data: []byte(`1`)}, "bad user id"},
		{"bad topic", streams.Publication{Topic: "a/b", Data: []byte(`1`)}, "bad topic name"},
		{"bad from", streams.Publication{To: "a", From: "x y", Data: []byte(`1`)}, "bad from"},
		{"negative ttl", streams.Publication{To: "a", TTL: -1, Data: []byte(`1`)}, "bad ttl"},
		{"bad id", streams.Publication{To: "a", ID: strings.Repeat("i", 257), Data: []byte(`1`)}, "bad id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := pub.Publish(testCtx(t), tt.p)
			var rej streams.Rejection
			if !errors.As(err, &rej) || !strings.Contains(string(rej), tt.reason) {
				t.Fatalf("Publish = %q, %v; want a Rejection %q", id, err, tt.reason)
			}
			if id != "" {
				t.Fatalf("id %q with a rejection", id)
			}
		})
	}
	if n := e.rdb.Exists(testCtx(t), "herald:in").Val(); n != 0 {
		t.Fatalf("rejected publications wrote herald:in (%d entries)", e.rdb.XLen(testCtx(t), "herald:in").Val())
	}
}

// With several partitions a publication goes to its recipient's partition.
func TestPublisherPartition(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	keys := streams.NewKeys("herald", 4)
	pub := streams.NewPublisher(e.rdb, keys, 64, e.metrics)
	for _, r := range []wire.Recipient{wire.User("alice"), wire.User("bob"), wire.Topic("news"), wire.Topic("sport")} {
		p := streams.Publication{Data: []byte(`1`)}
		if r.Kind == wire.KindUser {
			p.To = r.Name
		} else {
			p.Topic = r.Name
		}
		id, err := pub.Publish(testCtx(t), p)
		if err != nil {
			t.Fatal(err)
		}
		msgs := xrange(t, e.rdb, keys.IngressFor(r))
		if len(msgs) == 0 || msgs[len(msgs)-1].ID != id {
			t.Fatalf("%v not in %s", r, keys.IngressFor(r))
		}
	}
}

// A Redis failure is an error, not a Rejection, and is counted.
func TestPublisherRedisDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.withoutRetries(t)
	pub := streams.NewPublisher(e.rdb, e.keys, 64, e.metrics)
	e.srv.Kill()
	_, err := pub.Publish(testCtx(t), streams.Publication{To: "alice", Data: []byte(`1`)})
	var rej streams.Rejection
	if err == nil || errors.As(err, &rej) {
		t.Fatalf("Publish with Redis down = %v; want a non-Rejection error", err)
	}
	if n := counter(t, e.metrics.RedisErrors.WithLabelValues("publish")); n != 1 {
		t.Fatalf("publish errors = %v", n)
	}
	// A nil Metrics is allowed.
	if _, err := streams.NewPublisher(e.rdb, e.keys, 64, nil).Publish(testCtx(t), streams.Publication{To: "alice", Data: []byte(`1`)}); err == nil {
		t.Fatal("no error with Redis down")
	}
}
