package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/client"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

const (
	testP256dh = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
	testAuth   = "AAAAAAAAAAAAAAAAAAAAAA"
)

func webPushTarget(endpoint string) wire.PushTarget {
	return wire.PushTarget{Kind: wire.KindWebPush, Endpoint: endpoint, Keys: &wire.WebPushKeys{P256dh: testP256dh, Auth: testAuth}}
}

// Register, Targets and Unregister against a real node: each returns once the
// node answered, and Redis holds what they did.
func TestRegisterTargetsUnregister(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{})
	rdb := rs.Client(t)
	n := startNode(t, rs, "n1")
	rec := &recorder{}
	cfg := rec.config(t, "alice", n.url())
	cfg.Device = "phone"
	c := dial(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if err := c.Register(ctx, webPushTarget("https://push.example/sub-1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Register(ctx, wire.PushTarget{Kind: wire.KindFCM, Token: "fcm-1"}); err != nil {
		t.Fatal(err)
	}
	if v := rdb.HGet(ctx, "herald:{u:alice}:pt", "phone|webpush").Val(); !strings.Contains(v, "push.example/sub-1") {
		t.Fatalf("stored webpush target %q", v)
	}
	list, err := c.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Device != "phone" || list[0].Kind != wire.KindFCM || list[1].Kind != wire.KindWebPush ||
		list[0].Registered <= 0 || list[0].Target != nil {
		t.Fatalf("Targets %+v", list)
	}
	if err := c.Unregister(ctx, wire.KindWebPush); err != nil {
		t.Fatal(err)
	}
	if list, err := c.Targets(ctx); err != nil || len(list) != 1 || list[0].Kind != wire.KindFCM {
		t.Fatalf("after Unregister: %+v %v", list, err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.errs != nil {
		t.Fatalf("OnError saw %v", rec.errs)
	}
}

// The node's refusals are ServerErrors of the call, not OnError: an http://
// endpoint (push.webpush.allow_http is off), a session without a device. A
// target the node would refuse whatever its settings fails before it is sent.
func TestRegisterRefusals(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{})
	n := startNode(t, rs, "n1")
	rec := &recorder{}
	c := dial(t, rec.config(t, "bob", n.url())) // no device
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var se client.ServerError
	err := c.Register(ctx, wire.PushTarget{Kind: wire.KindFCM, Token: "t"})
	if !errors.As(err, &se) || se.Code != wire.CodeForbidden || !strings.Contains(se.Reason, "device") {
		t.Fatalf("Register without a device: %v", err)
	}
	if list, err := c.Targets(ctx); err != nil || len(list) != 0 {
		t.Fatalf("Targets without a device: %+v %v", list, err)
	}

	cfg := rec.config(t, "bob", n.url())
	cfg.Device = "laptop"
	d := dial(t, cfg)
	err = d.Register(ctx, webPushTarget("http://127.0.0.1:9/push"))
	if !errors.As(err, &se) || se.Code != wire.CodeBadFrame || !strings.Contains(se.Reason, "https") {
		t.Fatalf("Register of an http endpoint: %v", err)
	}
	if err := d.Register(ctx, wire.PushTarget{Kind: "sms"}); err == nil || !strings.Contains(err.Error(), "unknown target kind") {
		t.Fatalf("Register of an unknown kind: %v", err)
	}
	if err := d.Unregister(ctx, "sms"); err == nil {
		t.Fatal("Unregister of an unknown kind: no error")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.errs != nil {
		t.Fatalf("OnError saw the requests' errors: %v", rec.errs)
	}
}

// A request whose connection ends before the answer fails with
// ErrConnectionLost; after Close, ErrClosed; while ctx ends, ctx's error.
func TestRequestEndsWithItsConnection(t *testing.T) {
	n := startFakeNode(t)
	rec := &recorder{}
	c, conn := dialFake(t, n, rec.fakeConfig(t, n.url()), "1-0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	errc := make(chan error, 1)
	go func() { errc <- c.Register(ctx, wire.PushTarget{Kind: wire.KindFCM, Token: "t"}) }()
	f := conn.next(t)
	if f.Type != wire.TypeRegister || f.Target == nil || f.Target.Token != "t" || f.Ref == "" {
		t.Fatalf("sent %+v", f)
	}
	conn.drop()
	if err := <-errc; !errors.Is(err, client.ErrConnectionLost) {
		t.Fatalf("Register on a dropped connection: %v", err)
	}

	conn = n.accept(t)
	conn.welcome(t, "s-2", "1-0")
	if err := rec.waitState(t, client.Connected, 2); err != nil {
		t.Fatal(err)
	}
	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop()
	if _, err := c.Targets(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered Targets: %v", err)
	}

	_ = c.Close()
	if _, err := c.Targets(ctx); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Targets after Close: %v", err)
	}
}
