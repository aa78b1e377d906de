package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/gateway/push/pushtest"
	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/streams/redistest"
	"github.com/herald-push/herald/wire"
)

// fakePlatforms are the three fake push services and the flags that point a
// node at them.
type fakePlatforms struct {
	webpush *pushtest.WebPushServer
	fcm     *pushtest.FCMServer
	apns    *pushtest.APNsServer
	flags   []string
}

func startPlatforms(t *testing.T) *fakePlatforms {
	t.Helper()
	pub, priv := pushtest.NewVAPIDKeys(t)
	p := &fakePlatforms{webpush: pushtest.NewWebPushServer(t, pub), fcm: pushtest.NewFCMServer(t), apns: pushtest.NewAPNsServer(t)}
	p.flags = []string{
		"--delivery.ack_timeout", "300ms", "--push.enabled=true",
		"--push.webpush.vapid_public_key", pub, "--push.webpush.vapid_private_key", priv,
		"--push.webpush.subject", "mailto:ops@example.com", "--push.webpush.allow_http=true",
		"--push.fcm.credentials_file", p.fcm.CredentialsFile, "--push.fcm.endpoint", p.fcm.Endpoint, "--push.fcm.token_url", p.fcm.TokenURL,
		"--push.apns.key_file", p.apns.KeyFile, "--push.apns.key_id", p.apns.KeyID, "--push.apns.team_id", p.apns.TeamID,
		"--push.apns.topic", p.apns.Topic, "--push.apns.endpoint", p.apns.Endpoint, "--push.apns.ca_file", p.apns.CAFile,
		"--push.title_field", "title", "--push.claim_idle", "2s",
	}
	return p
}

// register stores a target of each kind for user (as a register frame does):
// the Web Push subscription, FCM token fcm-<user> and APNs token hex(user).
func (p *fakePlatforms) register(t *testing.T, rdb redis.UniversalClient, user string) wire.PushTarget {
	t.Helper()
	targets := streams.NewPushTargets(rdb, streams.NewKeys("herald", 1), time.Hour)
	sub := p.webpush.NewSubscription(t)
	for device, target := range map[string]wire.PushTarget{
		"browser": sub,
		"android": {Kind: wire.KindFCM, Token: "fcm-" + user},
		"iphone":  {Kind: wire.KindAPNs, Token: fmt.Sprintf("%x", user)},
	} {
		if err := targets.Put(context.Background(), user, device, target); err != nil {
			t.Fatal(err)
		}
	}
	return sub
}

// received lists, per platform, the push ids each got for user, sorted.
func (p *fakePlatforms) received(t *testing.T, user string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	add := func(kind string, frame []byte) {
		var f struct{ ID, To string }
		if err := json.Unmarshal(frame, &f); err != nil {
			t.Fatalf("%s notification body %q: %v", kind, frame, err)
		}
		if f.To == user {
			out[kind] = append(out[kind], f.ID)
		}
	}
	for _, m := range p.webpush.Received() {
		add("webpush", m.Body)
	}
	for _, m := range p.fcm.Received() {
		add("fcm", []byte(m.Data["push"]))
	}
	for _, m := range p.apns.Received() {
		if m.DeviceToken == fmt.Sprintf("%x", user) {
			add("apns", m.Body["push"])
		}
	}
	for _, ids := range out {
		sort.Strings(ids)
	}
	return out
}

// waitNotified waits until each platform got exactly ids for user, and the
// push group has settled everything (so that nothing more is coming).
func (p *fakePlatforms) waitNotified(t *testing.T, rdb redis.UniversalClient, user string, ids ...string) {
	t.Helper()
	want := map[string][]string{"webpush": ids, "fcm": ids, "apns": ids}
	testkit.Eventually(t, 30*time.Second, func() error {
		if err := pushGroupSettled(rdb); err != nil {
			return err
		}
		if got := p.received(t, user); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("%s notified %v, want %v", user, got, want)
		}
		return nil
	})
}

// pushGroupSettled: the group push read every undelivered event and has none
// pending.
func pushGroupSettled(rdb redis.UniversalClient) error {
	ctx := context.Background()
	last, err := rdb.XRevRangeN(ctx, "herald:undelivered", "+", "-", 1).Result()
	if err != nil || len(last) == 0 {
		return fmt.Errorf("no undelivered events yet (%v)", err)
	}
	groups, err := rdb.XInfoGroups(ctx, "herald:undelivered").Result()
	if err != nil {
		return err
	}
	for _, g := range groups {
		if g.Name == "push" && (g.Pending != 0 || g.LastDeliveredID != last[0].ID) {
			return fmt.Errorf("group push: %d pending, read up to %s of %s", g.Pending, g.LastDeliveredID, last[0].ID)
		}
	}
	return nil
}

// A real node with the fallback on and the three fake platforms: an offline
// user gets each push once on each target, the Web Push body being the push
// frame, also where a platform first refused for now; a user who is online
// and acks gets none; a target the platform reports gone is removed.
func TestPushFallbackEndToEnd(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := srv.Client(t)
	p := startPlatforms(t)
	p.register(t, rdb, "alice")
	p.register(t, rdb, "bob")
	gone := p.webpush.NewSubscription(t)
	if err := streams.NewPushTargets(rdb, streams.NewKeys("herald", 1), time.Hour).Put(context.Background(), "carol", "old-browser", gone); err != nil {
		t.Fatal(err)
	}
	p.webpush.Gone(gone.Endpoint)
	p.apns.FailNext(1, 503) // one refusal for now: retried after its Retry-After, sent once
	n := startProc(t, redisFlags(srv), "pf1", p.flags...).node()

	bob := connect(t, n, "bob", "")
	for i := range 3 {
		publishTo(t, rdb, "alice", fmt.Sprintf("a%d", i), `{"title":"Hello","n":1}`)
	}
	publishTo(t, rdb, "bob", "b0", `{}`)
	if f := bob.pushes(1, 5*time.Second)[0]; true {
		if err := bob.conn.WriteString(fmt.Sprintf(`{"type":"ack","offset":%q}`, f.str("offset"))); err != nil {
			t.Fatal(err)
		}
	}
	publishTo(t, rdb, "carol", "c0", `{}`)
	p.waitNotified(t, rdb, "alice", "a0", "a1", "a2")
	for _, m := range p.webpush.Received() {
		var f map[string]any
		if err := json.Unmarshal(m.Body, &f); err != nil || f["type"] != "push" || f["to"] != "alice" || f["offset"] == nil {
			t.Errorf("web push body %s is not alice's push frame", m.Body)
		}
	}
	testkit.Eventually(t, 10*time.Second, func() error {
		left, err := rdb.HLen(context.Background(), "herald:{u:carol}:pt").Result()
		if err != nil || left != 0 {
			return fmt.Errorf("carol's gone target still stored (%d, %v)", left, err)
		}
		return nil
	})
	if got := metricValue(t, n, `herald_push_notifications_total{kind="apns",outcome="retry"}`); got != 1 {
		t.Errorf("apns retries %v, want the one refusal", got)
	}
	if got := p.received(t, "bob"); len(got) != 0 {
		t.Errorf("bob, online and acking, was notified: %v", got)
	}
}

// kill -9 of the node running the worker while it holds events (in their
// grace), and a restart: every push is notified once per target, none lost,
// none repeated.
func TestPushFallbackSurvivesKill(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	rdb := srv.Client(t)
	p := startPlatforms(t)
	p.register(t, rdb, "alice")
	proc := startProc(t, redisFlags(srv), "pf1", append(p.flags, "--push.grace", "3s")...)
	for i := range 3 {
		publishTo(t, rdb, "alice", fmt.Sprintf("a%d", i), `{}`)
	}
	p.waitNotified(t, rdb, "alice", "a0", "a1", "a2")
	for i := 3; i < 6; i++ {
		publishTo(t, rdb, "alice", fmt.Sprintf("a%d", i), `{}`)
	}
	testkit.Eventually(t, 20*time.Second, func() error { // read, held for the grace
		pending, err := rdb.XPending(context.Background(), "herald:undelivered", "push").Result()
		if err != nil || pending.Count != 3 {
			return fmt.Errorf("pending %+v (%v), want 3", pending, err)
		}
		return nil
	})
	proc.kill()
	proc.start()
	p.waitNotified(t, rdb, "alice", "a0", "a1", "a2", "a3", "a4", "a5")
}

// publishTo appends a user push to ingress, as a service does.
func publishTo(t *testing.T, rdb redis.UniversalClient, user, id, data string) {
	t.Helper()
	if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: "herald:in", Values: []any{"to", user, "id", id, "data", data}}).Err(); err != nil {
		t.Fatal(err)
	}
}

// A push that reaches the user by WebSocket after its undelivered event (the
// user came back and resumed from history) and is acked within push.grace is
// not notified.
func TestPushFallbackSkipsAPushAckedDuringGrace(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := srv.Client(t)
	p := startPlatforms(t)
	p.register(t, rdb, "dave")
	n := startProc(t, redisFlags(srv), "pf1", append(p.flags, "--push.grace", "5s")...).node()
	publishTo(t, rdb, "dave", "d0", `{}`)
	testkit.Eventually(t, 10*time.Second, func() error { // dave is offline: the event comes
		if n, err := rdb.XLen(context.Background(), "herald:undelivered").Result(); err != nil || n == 0 {
			return fmt.Errorf("no undelivered event yet (%v)", err)
		}
		return nil
	})
	dave := connect(t, n, "dave", "since=0-0")
	f := dave.pushes(1, 5*time.Second)[0]
	if err := dave.conn.WriteString(fmt.Sprintf(`{"type":"ack","offset":%q}`, f.str("offset"))); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() error {
		if got := metricValue(t, n, `herald_push_events_total{outcome="acked"}`); got != 1 {
			return fmt.Errorf("acked events %v, want 1", got)
		}
		return pushGroupSettled(rdb)
	})
	if got := p.received(t, "dave"); len(got) != 0 {
		t.Errorf("dave, who resumed and acked within the grace, was notified: %v", got)
	}
}

// The whole flow as an app runs it: a browser registers its Web Push
// subscription over its WebSocket, the user goes offline, and each push
// published meanwhile arrives once as a notification that the browser's key
// decrypts into the push frame; the push the user acked while online does not.
func TestDeviceRegisteredOverItsSocketIsNotifiedWhenOffline(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := srv.Client(t)
	p := startPlatforms(t)
	n := startProc(t, redisFlags(srv), "pf1", p.flags...).node()

	erin := connect(t, n, "erin", "device=laptop")
	target, err := json.Marshal(p.webpush.NewSubscription(t))
	if err != nil {
		t.Fatal(err)
	}
	erin.send(t, fmt.Sprintf(`{"type":"register","ref":"r1","target":%s}`, target))
	erin.expectRef(t, "registered", "r1")
	publishTo(t, rdb, "erin", "seen", `{"title":"read online"}`)
	seen := erin.pushes(1, 5*time.Second)[0]
	erin.send(t, fmt.Sprintf(`{"type":"ack","offset":%q}`, seen.str("offset")))
	erin.close()

	publishTo(t, rdb, "erin", "missed1", `{"title":"one"}`)
	publishTo(t, rdb, "erin", "missed2", `{"title":"two"}`)
	want := map[string][]string{"webpush": {"missed1", "missed2"}}
	testkit.Eventually(t, 30*time.Second, func() error {
		if err := pushGroupSettled(rdb); err != nil {
			return err
		}
		if got := p.received(t, "erin"); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("erin notified %v, want %v", got, want)
		}
		return nil
	})
}

// The fallback runs on the embedded store too, so that the walkthrough in
// docs/PUSH.md can be tried without a Redis.
func TestPushFallbackOnTheEmbeddedStore(t *testing.T) {
	p := startPlatforms(t)
	e := startEmbedded(t, p.flags...)
	rdb := redis.NewClient(&redis.Options{Addr: e.state.RedisAddr})
	t.Cleanup(func() { _ = rdb.Close() })
	p.register(t, rdb, "alice")
	publishTo(t, rdb, "alice", "e0", `{"title":"Hello"}`)
	p.waitNotified(t, rdb, "alice", "e0")
}
