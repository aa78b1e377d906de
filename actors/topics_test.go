package actors

import (
	"slices"
	"testing"

	"github.com/herald-push/herald/wire"
)

// A subscribe without since starts at the topic's history top: subscribed with
// that offset, presence, a replay of what came between (ReplayAfter, no
// recovered), then live pushes of that topic only.
func TestSubscribeStartsAtTheTopicTop(t *testing.T) {
	h := newHarness(t, Config{})
	news := wire.Topic("news")
	h.hist.add(news, 1, 2, 4)
	hd, sock := h.open(SessionSpec{User: "alice"})
	h.announced(wire.User("alice"), 1)
	frame(hd, `{"type":"subscribe","topic":"news"}`)
	h.announced(news, 1)
	deliverAndWait(t, h.sys, pushAt(news, "n5", 5), pushAt(wire.Topic("sport"), "s1", 6))
	want := []string{"welcome 0-0", "subscribed news 4-0", "push n5"}
	if got := sock.frames(); !slices.Equal(got, want) {
		t.Fatalf("frames %q, want %q", got, want)
	}
	if !slices.Contains(h.hist.callList(), "after t:news 4-0") {
		t.Fatalf("history calls %q: no ReplayAfter from the top", h.hist.callList())
	}
}

// A live-only topic has nothing to replay: its subscribed frame waits until
// Redis has this node in the topic's presence, so that no push routed before
// that (which would not reach this node) comes after the frame.
func TestLiveOnlyTopicIsSubscribedOncePresent(t *testing.T) {
	h := newHarness(t, Config{})
	ticker := wire.Topic("ticker")
	h.hist.liveOnly = map[wire.Recipient]bool{ticker: true}
	hd, sock := h.open(SessionSpec{User: "alice"})
	waitFrames(t, sock, "welcome 0-0")
	h.pres.mu.Lock()
	h.pres.hold = true
	h.pres.mu.Unlock()
	frame(hd, `{"type":"subscribe","topic":"ticker"}`)
	h.announced(ticker, 1)
	if got := sock.frames(); !slices.Equal(got, []string{"welcome 0-0"}) {
		t.Fatalf("frames before the presence was confirmed: %q", got)
	}
	h.pres.confirm()
	waitFrames(t, sock, "welcome 0-0", "subscribed ticker 0-0")
	deliverAndWait(t, h.sys, pushAt(ticker, "k1", 7))
	waitFrames(t, sock, "welcome 0-0", "subscribed ticker 0-0", "push k1")
}

// A subscribe with since replays the topic after it and ends with recovered. A
// subscribe again without since only says where the subscription is; with since
// it starts the subscription again from there (duplicates possible, no gap).
func TestSubscribeWithSinceResumesAndRestarts(t *testing.T) {
	h := newHarness(t, Config{})
	news := wire.Topic("news")
	h.hist.add(news, 1, 2, 3)
	hd, sock := h.open(SessionSpec{User: "alice"})
	waitFrames(t, sock, "welcome 0-0")
	frame(hd, `{"type":"subscribe","topic":"news","since":"1-0"}`)
	waitFrames(t, sock, "welcome 0-0", "subscribed news 1-0", "push h2", "push h3", "recovered t:news true")
	deliverAndWait(t, h.sys, pushAt(news, "n4", 4))

	frame(hd, `{"type":"subscribe","topic":"news"}`)
	frame(hd, `{"type":"subscribe","topic":"news","since":"2-0"}`)
	waitFrames(t, sock, "welcome 0-0", "subscribed news 1-0", "push h2", "push h3", "recovered t:news true", "push n4",
		"subscribed news 4-0", "subscribed news 2-0", "push h3", "recovered t:news true")
	if n := h.pres.added(news); n != 2 {
		t.Errorf("presence added %d times for news, want 2 (the first subscription and the restart)", n)
	}
}

// Replies for a subscription that was replaced meanwhile are ignored: a replay
// that ends after the subscription restarted does not end the new one.
func TestStaleRepliesOfAReplacedSubscriptionAreIgnored(t *testing.T) {
	h := newHarness(t, Config{})
	news := wire.Topic("news")
	h.hist.add(news, 1, 2, 3)
	h.hist.replayGate.close()
	h.hist.ignoreCtx = true // the first replay ends even though its subscription is gone
	hd, sock := h.open(SessionSpec{User: "alice"})
	waitFrames(t, sock, "welcome 0-0")
	frame(hd, `{"type":"subscribe","topic":"news","since":"1-0"}`)
	eventually(t, "the first replay", func() bool { return slices.Contains(h.hist.callList(), "replay t:news 1-0") })
	frame(hd, `{"type":"subscribe","topic":"news","since":"2-0"}`)
	eventually(t, "the second replay", func() bool { return slices.Contains(h.hist.callList(), "replay t:news 2-0") })
	h.hist.replayGate.open()
	// Once the replay goroutines are done their replies are queued on the
	// session, ahead of the frame sent next.
	h.sys.attach.Wait()
	frame(hd, `{"type":"unsubscribe","topic":"probe"}`)
	waitContains(t, sock, "unsubscribed probe")
	if n := countCalls(sock.frames(), "recovered t:news true"); n != 1 {
		t.Fatalf("recovered written %d times in %q, want once", n, sock.frames())
	}
}

// A presence confirmation that comes after its subscription was replaced belongs
// to the old one: it must not start the new one's replay before the new one knows
// where it starts (it would replay the topic's whole history).
func TestPresenceOfAReplacedSubscriptionIsIgnored(t *testing.T) {
	h := newHarness(t, Config{})
	news := wire.Topic("news")
	h.hist.add(news, 1, 2, 3)
	h.pres.hold = true
	hd, sock := h.open(SessionSpec{User: "alice"})
	h.announced(wire.User("alice"), 1)
	frame(hd, `{"type":"subscribe","topic":"news"}`)
	h.announced(news, 1)
	frame(hd, `{"type":"unsubscribe","topic":"news"}`)
	h.hist.topGate.close()
	frame(hd, `{"type":"subscribe","topic":"news"}`)
	eventually(t, "the second top read", func() bool { return h.hist.topGate.waiting.Load() == 1 })
	h.pres.confirm() // the first subscription's presence (and the user's)
	h.hist.topGate.open()
	h.announced(news, 2)
	deliverAndWait(t, h.sys, pushAt(news, "n4", 4))
	want := []string{"welcome 0-0", "subscribed news 3-0", "unsubscribed news", "subscribed news 3-0", "push n4"}
	if got := sock.frames(); !slices.Equal(got, want) {
		t.Fatalf("frames %q, want %q", got, want)
	}
}

// The topic policy and limits.max_subscriptions refuse a subscribe with an error
// frame, counted by reason; nothing is registered. The token's topics are
// subscribed at start without either check.
func TestSubscribeRefusals(t *testing.T) {
	h := newHarness(t, Config{MaxSubscriptions: 2, Policy: fakePolicy{subscribe: map[string]bool{"a": true, "b": true}}})
	hd, sock := h.open(SessionSpec{User: "alice", Topics: []string{"token", "not a name"}})
	waitContains(t, sock, "welcome 0-0", "subscribed token 0-0")
	frame(hd, `{"type":"subscribe","topic":"secret"}`)
	frame(hd, `{"type":"subscribe","topic":"a"}`)
	frame(hd, `{"type":"subscribe","topic":"b"}`)
	waitContains(t, sock, "error forbidden secret", "subscribed a 0-0", "error limit b")
	if n := testCounter(h.m.SubsRefused.WithLabelValues("forbidden")); n != 1 {
		t.Errorf("refused forbidden = %v, want 1", n)
	}
	if n := testCounter(h.m.SubsRefused.WithLabelValues("limit")); n != 1 {
		t.Errorf("refused limit = %v, want 1", n)
	}
	h.announced(wire.Topic("a"), 1)
	if h.pres.added(wire.Topic("secret")) != 0 || h.pres.added(wire.Topic("b")) != 0 {
		t.Error("a refused topic was announced")
	}
}

// An unsubscribe stops the topic's pushes and answers unsubscribed, subscribed
// or not. The topic's presence goes only with its last local subscriber.
func TestUnsubscribeStopsPushesAndPresenceGoesWithTheLast(t *testing.T) {
	h := newHarness(t, Config{})
	news := wire.Topic("news")
	a, aSock := h.open(SessionSpec{User: "alice", Topics: []string{"news"}})
	b, bSock := h.open(SessionSpec{User: "bob", Topics: []string{"news"}})
	h.announced(news, 2)
	frame(a, `{"type":"unsubscribe","topic":"news"}`)
	frame(a, `{"type":"unsubscribe","topic":"never"}`)
	waitContains(t, aSock, "subscribed news 0-0", "unsubscribed news", "unsubscribed never")
	deliverAndWait(t, h.sys, pushAt(news, "n1", 1))
	waitContains(t, bSock, "subscribed news 0-0", "push n1")
	if slices.Contains(aSock.frames(), "push n1") {
		t.Fatal("a push of an unsubscribed topic was written")
	}
	if n := h.pres.removed(news); n != 0 {
		t.Fatalf("presence removed while bob still subscribes")
	}
	frame(b, `{"type":"unsubscribe","topic":"news"}`)
	eventually(t, "news presence removed", func() bool { return h.pres.removed(news) == 1 })
}
