package streams_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

func TestPushTargetsPutListRemove(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	store := streams.NewPushTargets(e.rdb, e.keys, time.Hour)
	fcm := wire.PushTarget{Kind: wire.KindFCM, Token: "tok-1"}
	apns := wire.PushTarget{Kind: wire.KindAPNs, Token: "0a0b"}
	for _, put := range []struct {
		device string
		t      wire.PushTarget
	}{{"phone", fcm}, {"phone", apns}, {"tablet", fcm}, {"phone", wire.PushTarget{Kind: wire.KindFCM, Token: "tok-2"}}} {
		if err := store.Put(ctx, "alice", put.device, put.t); err != nil {
			t.Fatal(err)
		}
	}
	got, err := store.List(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"phone apns 0a0b", "phone fcm tok-2", "tablet fcm tok-1"}
	if len(got) != len(want) {
		t.Fatalf("got %d targets %+v, want %v", len(got), got, want)
	}
	for i, dt := range got {
		if s := dt.Device + " " + dt.Target.Kind + " " + dt.Target.Token; s != want[i] {
			t.Errorf("target %d = %q, want %q", i, s, want[i])
		}
	}
	if err := store.Remove(ctx, "alice", "phone", wire.KindFCM); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.List(ctx, "alice"); len(got) != 2 {
		t.Errorf("after remove: %+v", got)
	}
	if ttl := e.rdb.PTTL(ctx, e.keys.PushTargets("alice")).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("targets key TTL %v, want (0, 1h]", ttl)
	}
	if got, err := store.List(ctx, "nobody"); err != nil || len(got) != 0 {
		t.Errorf("unknown user: %v %v", got, err)
	}
}

// An empty device or kind matches any: one device's targets, one kind's, all.
func TestPushTargetsRemoveMatching(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	store := streams.NewPushTargets(e.rdb, e.keys, time.Hour)
	put := func() {
		for _, device := range []string{"phone", "tablet"} {
			for _, tg := range []wire.PushTarget{{Kind: wire.KindFCM, Token: "t"}, {Kind: wire.KindAPNs, Token: "0a"}} {
				if err := store.Put(ctx, "alice", device, tg); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	left := func() string {
		list, err := store.List(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range list {
			out = append(out, d.Device+"/"+d.Target.Kind)
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct{ device, kind, want string }{
		{"phone", "", "tablet/apns tablet/fcm"},
		{"", wire.KindFCM, "phone/apns tablet/apns"},
		{"tablet", wire.KindAPNs, "phone/apns phone/fcm tablet/fcm"},
		{"", "", ""},
	} {
		put()
		if err := store.Remove(ctx, "alice", c.device, c.kind); err != nil {
			t.Fatal(err)
		}
		if got := left(); got != c.want {
			t.Errorf("Remove(%q, %q) left %q, want %q", c.device, c.kind, got, c.want)
		}
	}
}
