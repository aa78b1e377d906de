package auth

import "strings"

// TopicPolicy says which topics a user may subscribe to and publish on. A pattern
// is a topic name in which "{user}" stands for the user's id and "*" for any run of
// characters: "news", "user.{user}", "room.*", "*". A token's topics claim grants
// subscribing to those exact topics too.
type TopicPolicy struct {
	subscribe []string
	publish   []string
}

// NewTopicPolicy returns a policy from topics.subscribe and topics.publish.
func NewTopicPolicy(subscribe, publish []string) *TopicPolicy {
	return &TopicPolicy{subscribe: subscribe, publish: publish}
}

// CanSubscribe reports whether user may subscribe to topic; granted is the token's
// topics claim.
func (p *TopicPolicy) CanSubscribe(user, topic string, granted []string) bool {
	for _, g := range granted {
		if g == topic {
			return true
		}
	}
	return matchAny(p.subscribe, user, topic)
}

// CanPublish reports whether user may publish on topic from a client.
func (p *TopicPolicy) CanPublish(user, topic string) bool {
	return matchAny(p.publish, user, topic)
}

func matchAny(patterns []string, user, topic string) bool {
	for _, pat := range patterns {
		if match(strings.ReplaceAll(pat, "{user}", user), topic) {
			return true
		}
	}
	return false
}

// match is glob matching with "*" only (any run, possibly empty).
func match(pattern, s string) bool {
	star := strings.IndexByte(pattern, '*')
	if star < 0 {
		return pattern == s
	}
	prefix := pattern[:star]
	if !strings.HasPrefix(s, prefix) {
		return false
	}
	rest := pattern[star+1:]
	for i := len(prefix); i <= len(s); i++ {
		if match(rest, s[i:]) {
			return true
		}
	}
	return false
}
