package notify

import (
	"testing"
	"time"

	"github.com/herald-push/herald/wire"
)

func TestNotificationFromConfiguredFields(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	w := New(Config{TitleField: "title", BodyField: "n", CollapseField: "thread", TTL: time.Hour}, Deps{Now: func() time.Time { return now }})
	p := &wire.Push{Recipient: wire.User("alice"), ID: "m1", Offset: wire.MustOffset("5-1"), From: "bob", TS: 5,
		Data: []byte(`{"title":"Hi","n":42,"thread":"t7"}`)}
	n := w.notification(p)
	want := `{"type":"push","id":"m1","offset":"5-1","to":"alice","from":"bob","ts":5,"data":{"title":"Hi","n":42,"thread":"t7"}}`
	if string(n.Payload) != want || n.ID != "m1" {
		t.Errorf("payload %s id %s, want %s", n.Payload, n.ID, want)
	}
	if n.Title != "Hi" || n.Body != "42" || n.CollapseKey != "t7" || n.TTL != time.Hour {
		t.Errorf("title %q body %q collapse %q ttl %v", n.Title, n.Body, n.CollapseKey, n.TTL)
	}
}

func TestNotificationDefaults(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	w := New(Config{TitleField: "title", BodyField: "body", CollapseField: "c", TTL: time.Hour}, Deps{Now: func() time.Time { return now }})
	for _, data := range []string{`"just a string"`, `[1,2]`, `{"title":{"x":1},"body":null,"c":""}`} {
		p := &wire.Push{Recipient: wire.User("alice"), ID: "m1", Offset: wire.MustOffset("5-1"), Data: []byte(data),
			Expire: now.Add(90 * time.Second).UnixMilli()}
		n := w.notification(p)
		if n.Title != "" || n.Body != "" || n.CollapseKey != "m1" {
			t.Errorf("%s: title %q body %q collapse %q, want none and the push id", data, n.Title, n.Body, n.CollapseKey)
		}
		if n.TTL != 90*time.Second {
			t.Errorf("%s: ttl %v, want what is left of the push's own (90s)", data, n.TTL)
		}
	}
}
