package streams_test

import (
	"testing"
	"time"

	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

// A target reported gone is removed, unless the device registered another
// one of the same kind meanwhile.
func TestPushTargetsRemoveGone(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	p := streams.NewPushTargets(e.rdb, e.keys, time.Hour)
	old := wire.PushTarget{Kind: wire.KindFCM, Token: "old"}
	fresh := wire.PushTarget{Kind: wire.KindFCM, Token: "fresh"}
	sub := wire.PushTarget{Kind: wire.KindWebPush, Endpoint: "https://push.example/1", Keys: &wire.WebPushKeys{P256dh: "k", Auth: "a"}}
	for _, put := range []struct {
		device string
		t      wire.PushTarget
	}{{"phone", fresh}, {"laptop", sub}} {
		if err := p.Put(ctx, "alice", put.device, put.t); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.RemoveGone(ctx, "alice", "phone", old); err != nil {
		t.Fatal(err)
	}
	if err := p.RemoveGone(ctx, "alice", "laptop", sub); err != nil {
		t.Fatal(err)
	}
	if err := p.RemoveGone(ctx, "alice", "tablet", old); err != nil {
		t.Fatal(err) // not there: no error
	}
	left, err := p.List(ctx, "alice")
	if err != nil || len(left) != 1 || left[0].Device != "phone" || left[0].Target.Token != "fresh" {
		t.Fatalf("left %+v (%v), want the phone's fresh token only", left, err)
	}
}
