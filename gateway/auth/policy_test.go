package auth

import "testing"

func TestTopicPolicy(t *testing.T) {
	p := NewTopicPolicy([]string{"news", "user.{user}", "room.*", "a*b*c"}, []string{"room.*"})
	cases := []struct {
		user, topic string
		granted     []string
		sub, pub    bool
	}{
		{"alice", "news", nil, true, false},
		{"alice", "news2", nil, false, false},
		{"alice", "user.alice", nil, true, false},
		{"alice", "user.bob", nil, false, false},
		{"bob", "user.bob", nil, true, false},
		{"alice", "room.1", nil, true, true},
		{"alice", "room.", nil, true, true},
		{"alice", "rooms", nil, false, false},
		{"alice", "axxbyyc", nil, true, false},
		{"alice", "axxbyy", nil, false, false},
		{"alice", "secret", []string{"secret"}, true, false},
		{"alice", "secret", []string{"secret2"}, false, false},
	}
	for _, tc := range cases {
		if got := p.CanSubscribe(tc.user, tc.topic, tc.granted); got != tc.sub {
			t.Errorf("CanSubscribe(%s, %s, %v) = %v", tc.user, tc.topic, tc.granted, got)
		}
		if got := p.CanPublish(tc.user, tc.topic); got != tc.pub {
			t.Errorf("CanPublish(%s, %s) = %v", tc.user, tc.topic, got)
		}
	}
	if NewTopicPolicy(nil, nil).CanSubscribe("alice", "news", nil) {
		t.Error("an empty policy allowed a subscription")
	}
	if !NewTopicPolicy([]string{"*"}, nil).CanSubscribe("alice", "anything", nil) {
		t.Error("* did not allow")
	}
}
