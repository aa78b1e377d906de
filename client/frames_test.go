package client_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/client"
	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/wire"
)

// Ids are unique per stream: the same id on another stream is another message.
func TestDuplicatesAreDroppedByIDPerStream(t *testing.T) {
	frames := []string{
		pushFrame(wire.User("alice"), "a", "1-0", 1),
		pushFrame(wire.User("alice"), "a", "2-0", 1), // the publisher retried: a new offset, the same id
		pushFrame(wire.Topic("news"), "a", "1-0", 2),
		pushFrame(wire.Topic("sport"), "a", "1-0", 3),
		pushFrame(wire.Topic("news"), "a", "3-0", 2),
		pushFrame(wire.User("alice"), "b", "4-0", 4),
	}
	n := startFakeNode(t)
	rec := &recorder{}
	_, conn := dialFake(t, n, rec.fakeConfig(t, n.url()), "0-0")
	conn.send(t, frames...)
	rec.waitNs(t, 4)

	// DedupeWindow < 0 turns it off: every copy arrives.
	rec2 := &recorder{}
	cfg := rec2.fakeConfig(t, n.url())
	cfg.DedupeWindow = -1
	_, conn2 := dialFake(t, n, cfg, "0-0")
	conn2.send(t, frames...)
	testkit.Eventually(t, 10*time.Second, func() error {
		if got := rec2.ns(); fmt.Sprint(got) != "[1 1 2 3 2 4]" {
			return fmt.Errorf("pushes %v, want every copy", got)
		}
		return nil
	})
}

// Lines that are not frames this client knows are skipped, and the connection
// stays: a newer node may send frames an older client does not know.
func TestGarbageFromTheNodeIsSkipped(t *testing.T) {
	n := startFakeNode(t)
	rec := &recorder{}
	c, conn := dialFake(t, n, rec.fakeConfig(t, n.url()), "5-0")
	conn.send(t,
		"not json",
		"{",
		`{"type":"push"`,
		`[1,2,3]`,
		`"push"`,
		`{"type":"mystery","offset":"99-0"}`,
		`{"type":"push","id":"x","offset":"6-0","to":"alice","ts":"yesterday","data":{}}`,
		"\n \n\n",
		// Coalesced: frames and garbage in one message, blank lines too.
		pushFrame(wire.User("alice"), "m1", "6-0", 1)+"\n\n{oops}\n"+pushFrame(wire.User("alice"), "m2", "7-0", 2)+"\n",
	)
	if err := conn.ws.WriteMessage(gws.OpcodeBinary, []byte(pushFrame(wire.User("alice"), "bin", "8-0", 99))); err != nil {
		t.Fatal(err)
	}
	conn.send(t, pushFrame(wire.User("alice"), "m3", "9-0", 3))
	rec.waitNs(t, 3)
	if got := c.LastOffset(); got != "9-0" {
		t.Fatalf("LastOffset %q, want 9-0", got)
	}
	if rec.count(client.Disconnected) != 0 {
		t.Fatalf("states %s, want the connection kept", rec.stateLog())
	}
}

// An offset that is not a stream entry id would be sent back as since and make
// the node refuse every reconnection (HTTP 400): the client keeps the last good
// one. The push itself is still delivered.
func TestGarbageOffsetsDoNotPoisonTheResumePoint(t *testing.T) {
	n := startFakeNode(t)
	rec := &recorder{}
	cfg := rec.fakeConfig(t, n.url())
	cfg.AutoAck = true
	c, conn := dialFake(t, n, cfg, "yesterday")
	if got := c.LastOffset(); got != "" {
		t.Fatalf("LastOffset %q after a welcome with a bad offset, want none", got)
	}
	if err := c.Subscribe("news", ""); err != nil {
		t.Fatal(err)
	}
	conn.next(t)
	conn.send(t,
		`{"type":"subscribed","topic":"news","offset":"tomorrow"}`,
		pushFrame(wire.User("alice"), "m1", "6-0", 1),
		`{"type":"push","id":"m2","offset":"zzz","to":"alice","ts":1,"data":{"n":2}}`,
		`{"type":"push","id":"m3","offset":"zzz","topic":"news","ts":1,"data":{"n":3}}`,
	)
	rec.waitNs(t, 3)
	if got := c.LastOffset(); got != "6-0" {
		t.Fatalf("LastOffset %q, want 6-0", got)
	}
	conn.drop()
	conn.rest(t) // fails the test if an ack carried a bad offset
	conn2 := n.accept(t)
	if conn2.since() != "6-0" {
		t.Fatalf("reconnected with since=%q, want 6-0", conn2.since())
	}
	conn2.welcome(t, "s-2", "6-0")
	// next fails the test if the resubscription or an ack carries a bad offset.
	for f := conn2.next(t); f.Type != wire.TypeSubscribe; f = conn2.next(t) {
		if f.Type == wire.TypeAck && f.Offset != "6-0" {
			t.Fatalf("acked %q, want only good offsets", f.Offset)
		}
	}
}

func TestRecoveredErrorAndSentFramesReachTheCallbacks(t *testing.T) {
	n := startFakeNode(t)
	rec := &recorder{}
	_, conn := dialFake(t, n, rec.fakeConfig(t, n.url()), "5-0")
	conn.send(t,
		string(wire.Recovered(wire.User("alice"), true)),
		string(wire.Recovered(wire.Topic("news"), false)),
		string(wire.Errorf(wire.CodeForbidden, "not allowed").Bytes()),
		string((&wire.ErrorFrame{Code: wire.CodeRateLimited, Reason: "slow down", Ref: "r1"}).Bytes()),
		`{"type":"sent","ref":"r2","id":"1700000000000-4"}`,
		`{"type":"unsubscribed","topic":"news"}`,
	)
	testkit.Eventually(t, 10*time.Second, func() error {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		got := fmt.Sprint(rec.recovered, rec.errs, rec.sent)
		want := fmt.Sprint([]string{"alice:true", "news:false"},
			[]client.ServerError{{Code: "forbidden", Reason: "not allowed"}, {Code: "rate_limited", Reason: "slow down", Ref: "r1"}},
			[]string{"r2=1700000000000-4"})
		if got != want {
			return fmt.Errorf("got %s, want %s", got, want)
		}
		return nil
	})
}

func TestSendAndPublishFrames(t *testing.T) {
	n := startFakeNode(t)
	rec := &recorder{}
	c, conn := dialFake(t, n, rec.fakeConfig(t, n.url()), "5-0")
	if err := c.Send("r1", map[string]string{"text": "hi"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish("room1", "r2", []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := c.Ack("5-0"); err != nil {
		t.Fatal(err)
	}
	got := []string{frameString(conn.next(t)), frameString(conn.next(t)), frameString(conn.next(t))}
	want := []string{`send ref=r1 data={"text":"hi"}`, `publish topic=room1 ref=r2 data=[1,2]`, `ack offset=5-0`}
	if !slices.Equal(got, want) {
		t.Fatalf("frames %q, want %q", got, want)
	}
	for name, err := range map[string]error{
		"Send without ref":      c.Send("", 1),
		"Send without data":     c.Send("r3", nil),
		"Send of a func":        c.Send("r3", func() {}),
		"Publish without topic": c.Publish("", "r4", 1),
		"Ack without offset":    c.Ack(""),
		"Subscribe to nothing":  c.Subscribe("", ""),
	} {
		if err == nil || errors.Is(err, client.ErrNotConnected) {
			t.Errorf("%s: %v, want an argument error", name, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if fs := conn.rest(t); len(fs) != 0 {
		t.Fatalf("refused calls wrote %v", fs)
	}
}

// frameString renders the fields of a client frame that are set.
func frameString(f wire.ClientFrame) string {
	s := f.Type
	for _, kv := range [][2]string{{"topic", f.Topic}, {"since", f.Since}, {"offset", f.Offset}, {"ref", f.Ref}, {"data", string(f.Data)}} {
		if kv[1] != "" {
			s += " " + kv[0] + "=" + kv[1]
		}
	}
	return s
}

// Send and Publish are not queued between connections: the answer would come on
// a connection that does not know the request.
func TestSendBetweenConnectionsIsNotConnected(t *testing.T) {
	n := startFakeNode(t)
	rec := &recorder{}
	c, conn := dialFake(t, n, rec.fakeConfig(t, n.url()), "5-0")
	n.setRefuse(func(*http.Request) (int, string) { return http.StatusServiceUnavailable, "" })
	conn.drop()
	rec.waitState(t, client.Disconnected, 1)
	for name, err := range map[string]error{
		"Send":    c.Send("r1", 1),
		"Publish": c.Publish("room", "r2", 1),
		"Ack":     c.Ack("5-0"),
	} {
		if !errors.Is(err, client.ErrNotConnected) {
			t.Errorf("%s between connections: %v, want ErrNotConnected", name, err)
		}
	}
	var he *client.HTTPError
	if err := rec.waitState(t, client.Disconnected, 2); !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
		t.Fatalf("second disconnect %v, want the 503 refusal", err)
	}
}
