package client_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/client"
	"github.com/herald-push/herald/internal/testkit"
)

// OnWelcome gets every connection's welcome before OnState says Connected, and
// OnSubscribed every subscribed frame; Config.Since is the first connection's
// since, and later ones resume from the newest offset seen instead.
func TestWelcomeSubscribedAndSince(t *testing.T) {
	n := startFakeNode(t)
	rec := &recorder{}
	cfg := rec.fakeConfig(t, n.url())
	cfg.Since = "0-0"
	var mu sync.Mutex
	var got []string
	note := func(s string) {
		mu.Lock()
		got = append(got, s)
		mu.Unlock()
	}
	cfg.OnWelcome = func(w client.Welcome) { note("welcome " + w.Session + " " + w.Node + " " + w.User + " " + w.Offset) }
	cfg.OnSubscribed = func(topic, offset string) { note("subscribed " + topic + " " + offset) }
	onState := cfg.OnState
	cfg.OnState = func(s client.State, err error) {
		if s == client.Connected {
			note("connected")
		}
		onState(s, err)
	}
	c, conn := dialFake(t, n, cfg, "0-0")
	if conn.since() != "0-0" {
		t.Fatalf("first connection since=%q, want Config.Since 0-0", conn.since())
	}
	if err := c.Subscribe("news", ""); err != nil {
		t.Fatal(err)
	}
	conn.next(t)
	conn.send(t, `{"type":"subscribed","topic":"news","offset":"7-0"}`, `{"type":"push","id":"a","offset":"9-0","to":"alice","ts":1,"data":{"n":1}}`)
	rec.waitNs(t, 1)
	conn.drop()
	conn2 := n.accept(t)
	if conn2.since() != "9-0" {
		t.Fatalf("reconnected with since=%q, want 9-0", conn2.since())
	}
	conn2.welcome(t, "s-2", "9-0")
	testkit.Eventually(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		want := "welcome s-1 fake alice 0-0,connected,subscribed news 7-0,welcome s-2 fake alice 9-0,connected"
		if strings.Join(got, ",") != want {
			return fmt.Errorf("callbacks %q, want %q", strings.Join(got, ","), want)
		}
		return nil
	})
}

// A Since that is no offset is refused at once.
func TestBadSinceIsRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := client.Dial(ctx, client.Config{URLs: []string{"ws://127.0.0.1:1/ws"}, Since: "yesterday",
		Token: func(context.Context) (string, error) { return "t", nil }})
	if err == nil || !strings.Contains(err.Error(), "Since") {
		t.Fatalf("dial with since=yesterday: %v", err)
	}
}
