package auth

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"
)

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

// match agrees with a regular expression of the same glob on every pattern and
// topic over a small alphabet, where stars and repeats interact most.
func TestMatchAgreesWithRegexp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(alphabet string, n int) string {
		b := make([]byte, rng.IntN(n+1))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 20_000 {
		pattern, s := word("ab*.", 8), word("ab.", 10)
		parts := strings.Split(pattern, "*")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		want := regexp.MustCompile("^" + strings.Join(parts, ".*") + "$").MatchString(s)
		if got := match(pattern, s); got != want {
			t.Fatalf("match(%q, %q) = %v, want %v", pattern, s, got, want)
		}
	}
}

// A pattern of many stars against the longest topic a client may send is decided
// at once; the recursive glob this replaces took seconds at five stars.
func TestMatchManyStarsIsFast(t *testing.T) {
	pattern := strings.Repeat("*.", 12) + "x"
	topic := strings.Repeat(".", 128)
	done := make(chan bool, 1)
	go func() { done <- NewTopicPolicy([]string{pattern}, nil).CanSubscribe("alice", topic, nil) }()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("matched a topic without the final x")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a 12-star pattern against a 128-byte topic did not finish within 10 s")
	}
}
