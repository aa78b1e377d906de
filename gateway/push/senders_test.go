package push

import (
	"context"
	"errors"
	"testing"

	"github.com/herald-push/herald/wire"
)

func TestSendersRouteByKindAndRefuseAnUnconfiguredOne(t *testing.T) {
	wp, wsrv := newWebPushPair(t)
	f, fsrv := newFCMPair(t)
	var apns *APNs // not configured
	s := NewSenders(map[string]Sender{wire.KindWebPush: wp, wire.KindFCM: f, wire.KindAPNs: nilSender(apns)})
	ctx := context.Background()
	n := Notification{Payload: frame("1-0", "1")}
	if err := s.Send(ctx, wsrv.NewSubscription(t), n); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, fcmTarget("tok"), n); err != nil {
		t.Fatal(err)
	}
	if len(wsrv.Received()) != 1 || len(fsrv.Received()) != 1 {
		t.Fatalf("webpush got %d, fcm got %d", len(wsrv.Received()), len(fsrv.Received()))
	}
	for _, kind := range []string{wire.KindAPNs, "carrier-pigeon"} {
		err := s.Send(ctx, wire.PushTarget{Kind: kind, Token: "ab"}, n)
		if !errors.Is(err, ErrNoProvider) || errors.Is(err, ErrGone) {
			t.Errorf("%s: %v, want ErrNoProvider", kind, err)
		}
	}
	if !s.Has(wire.KindFCM) || s.Has(wire.KindAPNs) {
		t.Fatal("Has disagrees with the configuration")
	}
}

// nilSender turns a nil *APNs into a nil Sender, as a caller building the
// map from optional providers would.
func nilSender(a *APNs) Sender {
	if a == nil {
		return nil
	}
	return a
}
