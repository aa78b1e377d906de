package actors

import "github.com/herald-push/herald/wire"

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
