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

// match is glob matching with "*" only (any run, possibly empty). It matches
// greedily and, on a mismatch, retries only from the last star, in O(len(pattern)
// x len(s)): a recursion that tries every split for every star is exponential in
// the stars, and a client picks the topic (a 128-byte topic against a pattern of
// five stars took seconds).
func match(pattern, s string) bool {
	p, i := 0, 0
	star, from := -1, 0 // the last star seen, and where in s its run ends
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, from = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0: // the last star takes one more byte
			from++
			p, i = star+1, from
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
