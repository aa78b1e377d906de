package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TopicHistory is one history.topics entry, "PATTERN=SIZE" or "PATTERN=SIZE/TTL":
// topics matching Pattern keep Size entries for TTL (0: history.ttl). Size 0 keeps
// no history at all (live only). A string, not a mapping, so that the same value
// works in YAML, the environment and a flag.
type TopicHistory struct {
	Pattern string
	Size    int
	TTL     time.Duration
}

// ParseTopicHistory reads one history.topics entry.
func ParseTopicHistory(s string) (TopicHistory, error) {
	pat, spec, ok := strings.Cut(s, "=")
	if !ok || pat == "" || spec == "" {
		return TopicHistory{}, fmt.Errorf("%q is not PATTERN=SIZE or PATTERN=SIZE/TTL", s)
	}
	if strings.Contains(pat, "{user}") {
		return TopicHistory{}, fmt.Errorf("%q: {user} has no meaning in history.topics (a topic's history is the same for every user)", s)
	}
	if err := topicPattern(pat); err != nil {
		return TopicHistory{}, err
	}
	size, ttl, hasTTL := strings.Cut(spec, "/")
	n, err := strconv.Atoi(size)
	if err != nil || n < 0 {
		return TopicHistory{}, fmt.Errorf("%q: size %q is not a count of entries (0: live only)", s, size)
	}
	th := TopicHistory{Pattern: pat, Size: n}
	if hasTTL {
		d, err := time.ParseDuration(ttl)
		if err != nil || d <= 0 {
			return TopicHistory{}, fmt.Errorf("%q: ttl %q is not a positive duration such as 1h", s, ttl)
		}
		th.TTL = d
	}
	return th, nil
}

// topicHistory is the key table's check of one history.topics entry.
func topicHistory(v any) error {
	_, err := ParseTopicHistory(v.(string))
	return err
}

// TopicRules are the history.topics entries, parsed, in order (the first match
// wins). Load checked them, so a Config from Load parses without error.
func (h History) TopicRules() []TopicHistory {
	var out []TopicHistory
	for _, s := range h.Topics {
		if th, err := ParseTopicHistory(s); err == nil {
			out = append(out, th)
		}
	}
	return out
}
