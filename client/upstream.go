package client

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Send sends data (marshalled with encoding/json) upstream, to the product's
// backend; the node answers OnSent(ref, id) once it is stored, or OnError.
func (c *Client) Send(ref string, data any) error {
	raw, err := upstreamData(ref, data)
	if err != nil {
		return err
	}
	return c.send(outFrame{Type: "send", Ref: ref, Data: raw})
}

// Publish publishes data (marshalled with encoding/json) to topic, where the topic
// policy allows it; the node answers OnSent(ref, id) or OnError.
func (c *Client) Publish(topic, ref string, data any) error {
	if topic == "" {
		return errors.New("herald client: publish needs a topic")
	}
	raw, err := upstreamData(ref, data)
	if err != nil {
		return err
	}
	return c.send(outFrame{Type: "publish", Topic: topic, Ref: ref, Data: raw})
}

// upstreamData checks what the node would refuse with bad_frame, so that the
// caller gets the error at once.
func upstreamData(ref string, data any) (json.RawMessage, error) {
	if ref == "" {
		return nil, errors.New("herald client: a ref is required")
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("herald client: data: %w", err)
	}
	if string(raw) == "null" {
		return nil, errors.New("herald client: data is required")
	}
	return raw, nil
}
