package notify

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/herald-push/herald/gateway/push"
	"github.com/herald-push/herald/wire"
)

// notification builds what p becomes on the platforms: the push frame as the
// payload, title, body and collapse key from the configured fields of its
// data, and the TTL, cut to what is left of the push's own ttl.
func (w *Worker) notification(p *wire.Push) push.Notification {
	fields := topFields(p.Data)
	n := push.Notification{
		ID:          p.ID,
		Payload:     p.AppendFrame(nil),
		Title:       text(fields, w.cfg.TitleField),
		Body:        text(fields, w.cfg.BodyField),
		CollapseKey: text(fields, w.cfg.CollapseField),
		TTL:         w.cfg.TTL,
	}
	if n.CollapseKey == "" {
		n.CollapseKey = p.ID
	}
	if p.Expire != 0 {
		left := time.UnixMilli(p.Expire).Sub(w.deps.Now())
		n.TTL = max(0, min(n.TTL, left.Truncate(time.Second)))
	}
	return n
}

// topFields decodes data's top level when it is an object; nil otherwise.
func topFields(data []byte) map[string]json.RawMessage {
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return nil
	}
	return m
}

// text is field name of fields as text: a string as it is, a number or a
// boolean as written; "" for anything else, or no such field.
func text(fields map[string]json.RawMessage, name string) string {
	raw, ok := fields[name]
	if name == "" || !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	switch raw[0] {
	case '{', '[', 'n':
		return ""
	}
	return string(raw)
}
