package wire

import (
	"bytes"
	"encoding/json"
)

// Client frame types, docs/PROTOCOL.md section 5.
const (
	TypeSubscribe   = "subscribe"
	TypeUnsubscribe = "unsubscribe"
	TypeAck         = "ack"
	TypeSend        = "send"
	TypePublish     = "publish"
	// Push targets, docs/PROTOCOL.md section 9.
	TypeRegister   = "register"
	TypeUnregister = "unregister"
	TypeTargets    = "targets"
)

// MaxRefLen bounds the client's request reference.
const MaxRefLen = 128

// ClientFrame is one decoded, validated frame from a client.
type ClientFrame struct {
	Type   string          `json:"type"`
	Topic  string          `json:"topic,omitempty"`
	Since  string          `json:"since,omitempty"`
	Offset string          `json:"offset,omitempty"`
	Ref    string          `json:"ref,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
	Target *PushTarget     `json:"target,omitempty"` // register
	Kind   string          `json:"kind,omitempty"`   // unregister
}

// DecodeClientFrame parses and validates b. A returned *ErrorFrame is ready to send
// back (code bad_frame, with the request's topic or ref where it had one).
func DecodeClientFrame(b []byte) (ClientFrame, *ErrorFrame) {
	var f ClientFrame
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return f, Errorf(CodeBadFrame, "a frame is one JSON object")
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return ClientFrame{}, Errorf(CodeBadFrame, "not a JSON frame: %s", trimReason(err.Error()))
	}
	if e := f.validate(); e != nil {
		if len(f.Ref) <= MaxRefLen {
			e.Ref = f.Ref
		}
		if ValidName(f.Topic) == nil {
			e.Topic = f.Topic
		}
		return ClientFrame{}, e
	}
	return f, nil
}

func (f *ClientFrame) validate() *ErrorFrame {
	switch f.Type {
	case TypeAck:
		return f.validateAck()
	case TypeSubscribe, TypeUnsubscribe:
		if err := ValidName(f.Topic); err != nil {
			return Errorf(CodeBadFrame, "%s needs a topic: %v", f.Type, err)
		}
		if f.Since != "" {
			if _, err := ParseOffset(f.Since); err != nil {
				return Errorf(CodeBadFrame, "since is not an offset")
			}
		}
	case TypeSend, TypePublish:
		return f.validateUpstream()
	case TypeRegister, TypeUnregister, TypeTargets:
		return f.validatePushTarget()
	case "":
		return Errorf(CodeBadFrame, "missing type")
	default:
		return Errorf(CodeBadFrame, "unknown frame type %q", trimReason(f.Type))
	}
	return nil
}

func (f *ClientFrame) validateAck() *ErrorFrame {
	if _, err := ParseOffset(f.Offset); err != nil {
		return Errorf(CodeBadFrame, "ack needs an offset like \"1700000000000-0\"")
	}
	if f.Topic != "" && ValidName(f.Topic) != nil {
		return Errorf(CodeBadFrame, "bad topic name")
	}
	return nil
}

func (f *ClientFrame) validateUpstream() *ErrorFrame {
	if f.Ref == "" || len(f.Ref) > MaxRefLen {
		return Errorf(CodeBadFrame, "%s needs a ref of 1 to %d bytes", f.Type, MaxRefLen)
	}
	if len(f.Data) == 0 || string(f.Data) == "null" {
		return Errorf(CodeBadFrame, "%s needs data", f.Type)
	}
	if f.Type == TypePublish {
		if err := ValidName(f.Topic); err != nil {
			return Errorf(CodeBadFrame, "publish needs a topic: %v", err)
		}
	}
	return nil
}

// validatePushTarget checks the frames about the session's push targets. A
// register frame's target is checked whole but for the endpoint's scheme, which
// is the node's setting (push.webpush.allow_http): the session checks it again.
func (f *ClientFrame) validatePushTarget() *ErrorFrame {
	if f.Ref == "" || len(f.Ref) > MaxRefLen {
		return Errorf(CodeBadFrame, "%s needs a ref of 1 to %d bytes", f.Type, MaxRefLen)
	}
	switch f.Type {
	case TypeRegister:
		if f.Target == nil {
			return Errorf(CodeBadFrame, "register needs a target")
		}
		if err := f.Target.Validate(true); err != nil {
			return Errorf(CodeBadFrame, "bad target: %s", trimReason(err.Error()))
		}
	case TypeUnregister:
		if !ValidKind(f.Kind) {
			return Errorf(CodeBadFrame, "unregister needs a kind: webpush, fcm or apns")
		}
	}
	return nil
}

func trimReason(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}

// UpMessage is a client's send frame with what the node knows of its sender: the
// entry a node appends to herald:up (docs/PROTOCOL.md section 5).
type UpMessage struct {
	User, Device, Session, Node, Ref string
	TS                               int64 // unix ms
	Data                             []byte
}
