package actors

import (
	"encoding/json"

	"github.com/herald-push/herald/wire"
)

// subscribedFrame answers a subscribe; offset is where the subscription starts
// (the client's since, or the topic's history top), so that a client that sees no
// push before it reconnects can still resubscribe from there.
func subscribedFrame(topic string, offset wire.Offset) []byte {
	b := append([]byte(`{"type":"subscribed","topic":`), wire.AppendString(nil, topic)...)
	b = append(b, `,"offset":"`...)
	b = offset.Append(b)
	return append(b, '"', '}')
}

func unsubscribedFrame(topic string) []byte {
	b := append([]byte(`{"type":"unsubscribed","topic":`), wire.AppendString(nil, topic)...)
	return append(b, '}')
}

func sentFrame(ref, id string) []byte {
	b := append([]byte(`{"type":"sent","ref":`), wire.AppendString(nil, ref)...)
	b = append(b, `,"id":`...)
	b = wire.AppendString(b, id)
	return append(b, '}')
}

// refFrame is an answer that carries only its request's ref: registered,
// unregistered.
func refFrame(typ, ref string) []byte {
	b := append([]byte(`{"type":"`), typ...)
	b = append(b, `","ref":`...)
	b = wire.AppendString(b, ref)
	return append(b, '}')
}

// targetsFrame answers a targets frame with the user's targets: device, kind and
// when registered, never the endpoints, keys or tokens (a device has no use for
// another device's secrets).
func targetsFrame(ref string, list []wire.RegisteredTarget) []byte {
	shown := make([]wire.RegisteredTarget, len(list))
	for i, t := range list {
		shown[i] = wire.RegisteredTarget{Device: t.Device, Kind: t.Kind, Registered: t.Registered}
	}
	b, err := json.Marshal(struct {
		Type    string                  `json:"type"`
		Ref     string                  `json:"ref"`
		Targets []wire.RegisteredTarget `json:"targets"`
	}{"targets", ref, shown})
	if err != nil { // strings and numbers only: cannot happen
		return refFrame("targets", ref)
	}
	return b
}
