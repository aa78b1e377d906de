package client_test

import (
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/herald-push/herald/client"
	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/wire"
)

func TestSubscribeUnsubscribeAndResubscribe(t *testing.T) {
	n := startFakeNode(t)
	rec := &recorder{}
	c, conn := dialFake(t, n, rec.fakeConfig(t, n.url()), "1-0")
	for _, call := range []func() error{
		func() error { return c.Subscribe("news", "") },
		func() error { return c.Subscribe("sport", "3-0") },
		func() error { return c.Subscribe("quiet", "") },
		func() error { return c.Unsubscribe("sport") },
	} {
		if err := call(); err != nil {
			t.Fatal(err)
		}
	}
	got := []string{frameString(conn.next(t)), frameString(conn.next(t)), frameString(conn.next(t)), frameString(conn.next(t))}
	want := []string{"subscribe topic=news", "subscribe topic=sport since=3-0", "subscribe topic=quiet", "unsubscribe topic=sport"}
	if !slices.Equal(got, want) {
		t.Fatalf("frames %q, want %q", got, want)
	}
	// The subscription's start is the resume point until the topic's first push;
	// then the newest push is. Subscribing again without since keeps it.
	conn.send(t,
		`{"type":"subscribed","topic":"news","offset":"9-0"}`,
		`{"type":"subscribed","topic":"quiet","offset":"4-0"}`,
		pushFrame(wire.Topic("news"), "n1", "10-0", 1),
		`{"type":"subscribed","topic":"news","offset":"2-0"}`, // a repeat does not move it back
	)
	rec.waitNs(t, 1)
	if err := c.Subscribe("news", ""); err != nil {
		t.Fatal(err)
	}
	if f := frameString(conn.next(t)); f != "subscribe topic=news" {
		t.Fatalf("second subscribe %q", f)
	}

	// While disconnected, Subscribe is remembered and sent after the welcome.
	n.setRefuse(func(*http.Request) (int, string) { return http.StatusServiceUnavailable, "" })
	conn.drop()
	rec.waitState(t, client.Disconnected, 2) // the drop, then a refusal: no connection now
	if err := c.Subscribe("weather", ""); err != nil {
		t.Fatalf("Subscribe while disconnected: %v", err)
	}
	n.setRefuse(nil)
	conn2 := n.accept(t)
	conn2.welcome(t, "s-2", "1-0")
	got = []string{frameString(conn2.next(t)), frameString(conn2.next(t)), frameString(conn2.next(t))}
	slices.Sort(got)
	want = []string{"subscribe topic=news since=10-0", "subscribe topic=quiet since=4-0", "subscribe topic=weather"}
	if !slices.Equal(got, want) {
		t.Fatalf("resubscriptions %q, want %q (sport forgotten)", got, want)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if rest := conn2.rest(t); len(rest) != 0 {
		t.Fatalf("more frames after the resubscriptions: %v", rest)
	}
	if err := c.Subscribe("news", ""); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	if err := c.Unsubscribe("news"); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Unsubscribe after Close: %v", err)
	}
}

// A topic refused by the node stays remembered until Unsubscribe: the policy may
// allow it on another node or later.
func TestRefusedTopicIsResubscribed(t *testing.T) {
	n := startFakeNode(t)
	rec := &recorder{}
	c, conn := dialFake(t, n, rec.fakeConfig(t, n.url()), "1-0")
	if err := c.Subscribe("secret", ""); err != nil {
		t.Fatal(err)
	}
	conn.next(t)
	conn.send(t, string((&wire.ErrorFrame{Code: wire.CodeForbidden, Reason: "no", Topic: "secret"}).Bytes()))
	testkit.Eventually(t, 10*time.Second, func() error {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.errs) != 1 || rec.errs[0].Topic != "secret" {
			return errors.New("no forbidden error yet")
		}
		return nil
	})
	conn.drop()
	conn2 := n.accept(t)
	conn2.welcome(t, "s-2", "1-0")
	if f := frameString(conn2.next(t)); f != "subscribe topic=secret" {
		t.Fatalf("after the reconnection %q, want the topic subscribed again", f)
	}
}

func TestAutoAckSendsTheNewestOffsetOfEachSubscribedStream(t *testing.T) {
	n := startFakeNode(t)
	rec := &recorder{}
	cfg := rec.fakeConfig(t, n.url())
	cfg.AutoAck = true
	c, conn := dialFake(t, n, cfg, "1-0")
	if err := c.Subscribe("news", ""); err != nil {
		t.Fatal(err)
	}
	conn.next(t)
	conn.send(t,
		pushFrame(wire.Topic("other"), "o1", "50-0", 1), // not subscribed by this client: not acked
		pushFrame(wire.User("alice"), "u1", "2-0", 2),
		pushFrame(wire.User("alice"), "u2", "3-0", 3),
		pushFrame(wire.Topic("news"), "n1", "20-0", 4),
		pushFrame(wire.User("alice"), "u2", "3-0", 3), // a duplicate is acked too: harmless
		pushFrame(wire.User("alice"), "u3", "4-0", 5),
		pushFrame(wire.Topic("news"), "n2", "21-0", 6),
	)
	rec.waitNs(t, 6)
	newest := map[string]string{}
	for newest[""] != "4-0" || newest["news"] != "21-0" {
		f := conn.next(t)
		if f.Type != wire.TypeAck {
			t.Fatalf("frame %s, want acks", frameString(f))
		}
		if f.Topic == "other" {
			t.Fatalf("acked %s, a topic the client did not subscribe", frameString(f))
		}
		newest[f.Topic] = f.Offset
	}
	// Close joins the keepalive loop, so no ack is still being written.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range conn.rest(t) {
		if f.Type != wire.TypeAck || f.Topic == "other" {
			t.Fatalf("late frame %s", frameString(f))
		}
	}
}

func TestNoAcksWithoutAutoAck(t *testing.T) {
	n := startFakeNode(t)
	rec := &recorder{}
	c, conn := dialFake(t, n, rec.fakeConfig(t, n.url()), "1-0")
	conn.send(t, pushFrame(wire.User("alice"), "u1", "2-0", 1))
	rec.waitNs(t, 1)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if fs := conn.rest(t); len(fs) != 0 {
		t.Fatalf("frames %v without AutoAck, want none", fs)
	}
}
