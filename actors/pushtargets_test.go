package actors

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/herald-push/herald/wire"
)

const (
	testP256dh  = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
	testAuth    = "AAAAAAAAAAAAAAAAAAAAAA"
	fcmRegister = `{"type":"register","ref":"r1","target":{"kind":"fcm","token":"tok-1"}}`
)

// webpushRegister is a register frame for a Web Push subscription at endpoint.
func webpushRegister(ref, endpoint string) string {
	return `{"type":"register","ref":"` + ref + `","target":{"kind":"webpush","endpoint":"` + endpoint +
		`","keys":{"p256dh":"` + testP256dh + `","auth":"` + testAuth + `"}}}`
}

func registrations(h *harness, kind, outcome string) float64 {
	return testCounter(h.m.Registrations.WithLabelValues(kind, outcome))
}

// A register frame stores the target for the session's user and device, and is
// answered registered with its ref once stored.
func TestRegisterIsStoredAndAnswered(t *testing.T) {
	h := newHarness(t, Config{})
	hd, sock := openUp(t, h)
	frame(hd, fcmRegister)
	waitFrames(t, sock, "welcome 0-0", "registered r1")
	if got, ok := h.pt.target("alice", "phone", wire.KindFCM); !ok || got.Token != "tok-1" {
		t.Fatalf("stored %+v %v", got, ok)
	}
	if n := registrations(h, "fcm", "registered"); n != 1 {
		t.Fatalf("herald_push_registrations_total{fcm,registered} = %v", n)
	}
}

// Unregister removes the device's target of that kind only.
func TestUnregisterRemovesThatKind(t *testing.T) {
	h := newHarness(t, Config{})
	hd, sock := openUp(t, h)
	frame(hd, fcmRegister)
	frame(hd, "%s", webpushRegister("r2", "https://push.example/a"))
	frame(hd, `{"type":"unregister","ref":"r3","kind":"fcm"}`)
	waitContains(t, sock, "registered r1", "registered r2", "unregistered r3")
	if _, ok := h.pt.target("alice", "phone", wire.KindFCM); ok {
		t.Fatal("the fcm target is still stored")
	}
	if _, ok := h.pt.target("alice", "phone", wire.KindWebPush); !ok {
		t.Fatal("the webpush target went too")
	}
}

// targets lists the user's targets of every device, with the device, kind and
// registration time but not the endpoints, keys or tokens.
func TestTargetsListsWithoutSecrets(t *testing.T) {
	h := newHarness(t, Config{})
	hd, sock := openUp(t, h)
	frame(hd, fcmRegister)
	waitFrames(t, sock, "welcome 0-0", "registered r1")
	other, osock := h.open(SessionSpec{User: "alice", Device: "laptop", ID: "s2"})
	waitFrames(t, osock, "welcome 0-0")
	frame(other, "%s", webpushRegister("r2", "https://push.example/secret-endpoint"))
	waitFrames(t, osock, "welcome 0-0", "registered r2")
	frame(hd, `{"type":"targets","ref":"r3"}`)
	waitFrames(t, sock, "welcome 0-0", "registered r1", "targets r3")
	raw := sock.frameText(2)
	for _, secret := range []string{"secret-endpoint", "tok-1", testP256dh, `"target"`} {
		if strings.Contains(raw, secret) {
			t.Fatalf("targets frame shows %q: %s", secret, raw)
		}
	}
	var got struct {
		Targets []wire.RegisteredTarget `json:"targets"`
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil || len(got.Targets) != 2 ||
		got.Targets[0].Device != "laptop" || got.Targets[0].Kind != "webpush" ||
		got.Targets[1].Device != "phone" || got.Targets[1].Kind != "fcm" {
		t.Fatalf("targets frame %s (%v)", raw, err)
	}
}

// A user with no targets gets an empty list, not null.
func TestTargetsEmpty(t *testing.T) {
	h := newHarness(t, Config{})
	hd, sock := openUp(t, h)
	frame(hd, `{"type":"targets","ref":"r1"}`)
	waitFrames(t, sock, "welcome 0-0", "targets r1")
	if raw := sock.frameText(1); !strings.Contains(raw, `"targets":[]`) {
		t.Fatalf("targets frame %s", raw)
	}
}

// A target belongs to a device: a session without one is refused, and nothing
// is stored; it may still list the user's targets.
func TestRegisterNeedsADevice(t *testing.T) {
	h := newHarness(t, Config{})
	hd, sock := h.open(SessionSpec{User: "alice", ID: "s1"})
	waitFrames(t, sock, "welcome 0-0")
	frame(hd, fcmRegister)
	frame(hd, `{"type":"unregister","ref":"r2","kind":"fcm"}`)
	frame(hd, `{"type":"targets","ref":"r3"}`)
	waitFrames(t, sock, "welcome 0-0", "error forbidden r1", "error forbidden r2", "targets r3")
	if !sock.wrote("device claim") {
		t.Fatal("the refusal does not say a device is needed")
	}
	if n := h.pt.callCount(); n != 1 {
		t.Fatalf("%d store calls, want the list only", n)
	}
	if n := registrations(h, "fcm", "no_device"); n != 1 {
		t.Fatalf("no_device registrations %v", n)
	}
}

// An http:// Web Push endpoint is refused unless AllowHTTPPush
// (push.webpush.allow_http) is set.
func TestRegisterHTTPEndpointFollowsTheSetting(t *testing.T) {
	h := newHarness(t, Config{})
	hd, sock := openUp(t, h)
	frame(hd, "%s", webpushRegister("r1", "http://127.0.0.1:9/push"))
	waitFrames(t, sock, "welcome 0-0", "error bad_frame r1")
	if !sock.wrote("https endpoint") {
		t.Fatal("the refusal does not name https")
	}
	if n := registrations(h, "webpush", "bad_target"); n != 1 {
		t.Fatalf("bad_target registrations %v", n)
	}

	allow := newHarness(t, Config{AllowHTTPPush: true})
	hd, sock = openUp(t, allow)
	frame(hd, "%s", webpushRegister("r1", "http://127.0.0.1:9/push"))
	waitFrames(t, sock, "welcome 0-0", "registered r1")
}

// A malformed register frame is a bad_frame with its ref and the reason.
func TestRegisterMalformedTarget(t *testing.T) {
	h := newHarness(t, Config{})
	hd, sock := openUp(t, h)
	frame(hd, `{"type":"register","ref":"r1","target":{"kind":"apns","token":"not hex"}}`)
	waitFrames(t, sock, "welcome 0-0", "error bad_frame r1")
	if !sock.wrote("hex device token") {
		t.Fatal("the reason is not in the error frame")
	}
}

// With Redis away the answer is a retryable unavailable with the ref; a retry
// once it is back is stored.
func TestRegisterUnavailable(t *testing.T) {
	h := newHarness(t, Config{})
	hd, sock := openUp(t, h)
	h.pt.setErr(errRedis)
	frame(hd, fcmRegister)
	waitFrames(t, sock, "welcome 0-0", "error unavailable r1")
	h.pt.setErr(nil)
	frame(hd, fcmRegister)
	waitFrames(t, sock, "welcome 0-0", "error unavailable r1", "registered r1")
	if n := registrations(h, "fcm", "unavailable"); n != 1 {
		t.Fatalf("unavailable registrations %v", n)
	}
}

// At most maxTargetInflight requests of a session wait for Redis, sent one at a
// time; the next is refused with rate_limited (counted), and taken again once
// one returned.
func TestTargetRequestsInFlightAreBounded(t *testing.T) {
	h := newHarness(t, Config{TargetsPerSecond: 100})
	hd, sock := openUp(t, h)
	h.pt.held.close()
	for i := 0; i < maxTargetInflight; i++ {
		frame(hd, fcmRegister)
	}
	eventually(t, "one request with Redis", func() bool { return h.pt.held.waiting.Load() == 1 })
	frame(hd, "%s", strings.Replace(fcmRegister, "r1", "r9", 1))
	waitFrames(t, sock, "welcome 0-0", "error rate_limited r9")
	if n := registrations(h, "fcm", "rate_limited"); n != 1 {
		t.Fatalf("rate_limited registrations %v", n)
	}
	h.pt.held.open()
	eventually(t, "answers", func() bool { return len(sock.frames()) == 2+maxTargetInflight })
	frame(hd, "%s", strings.Replace(fcmRegister, "r1", "r10", 1))
	waitContains(t, sock, "registered r10")
}

// A client looping register frames is refused with rate_limited, then closed
// with 4003 like any abusive client, and Redis sees only the frames within the
// limit.
func TestRegisterLoopIsRateLimited(t *testing.T) {
	h := newHarness(t, Config{TargetsPerSecond: 2})
	hd, sock := openUp(t, h)
	for i := 0; i < 50; i++ {
		frame(hd, fcmRegister)
	}
	waitClosed(t, sock, wire.ClosePolicy)
	if !sock.wrote("push target requests per second") {
		t.Fatal("no rate_limited error before the close")
	}
	if n := h.pt.callCount(); n >= 50 {
		t.Fatalf("%d store calls for 50 looping frames", n)
	}
}

// frameText is the i-th frame the session wrote, as written.
func (s *recSocket) frameText(i int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lines [][]byte
	for _, m := range s.msgs {
		lines = append(lines, bytes.Split(m, []byte("\n"))...)
	}
	if i >= len(lines) {
		return ""
	}
	return string(lines[i])
}
