package streams

import (
	"path"
	"time"

	"github.com/herald-push/herald/wire"
)

// A topic's history can differ from the node's history.size and history.ttl
// (history.topics): a shorter one, or none at all. A live-only topic (size 0)
// has no history stream: the router appends nothing for it, so a high-churn topic
// (tickers, typing indicators) costs Redis no stream per topic and no write per
// push, and it gives up resume: a subscribe with since gets recovered
// complete:false at once, and what was published while a client was away is not
// replayed.

// HistoryRule is one history.topics entry: topics matching Pattern keep Size
// entries for TTL (0: history.ttl). Size 0 is live only.
type HistoryRule struct {
	Pattern string
	Size    int
	TTL     time.Duration
}

// HistoryPolicy picks the history of a recipient: the first rule whose pattern
// matches a topic's name, else the node's defaults (nil limits). Users' histories
// always follow the defaults.
type HistoryPolicy struct {
	rules []TopicLimits
}

// TopicLimits is the history of the topics one rule matches, with its command
// arguments boxed once (the router sends them with every append).
type TopicLimits struct {
	pattern string
	Size    int
	TTL     time.Duration
	every   time.Duration // how often the TTL is set again (ttlRefresher)
	maxLen  any
	ttlMs   any
}

// NewHistoryPolicy returns the policy of rules over the node's history.ttl; nil
// when there are no rules. Patterns are topic names with "*" for any run of
// characters; config checks them ([A-Za-z0-9_.:@-] and *), so path.Match sees
// none of its other metacharacters and no "/".
func NewHistoryPolicy(ttl time.Duration, rules []HistoryRule) *HistoryPolicy {
	if len(rules) == 0 {
		return nil
	}
	p := &HistoryPolicy{}
	for _, r := range rules {
		t := r.TTL
		if t <= 0 {
			t = ttl
		}
		p.rules = append(p.rules, TopicLimits{pattern: r.Pattern, Size: r.Size, TTL: t, every: t / 16,
			maxLen: int64(r.Size), ttlMs: t.Milliseconds()})
	}
	return p
}

// For is r's history when a rule sets it; nil means the node's defaults. A nil
// policy has no rules.
func (p *HistoryPolicy) For(r wire.Recipient) *TopicLimits {
	if p == nil || r.Kind != wire.KindTopic {
		return nil
	}
	for i := range p.rules {
		if ok, _ := path.Match(p.rules[i].pattern, r.Name); ok {
			return &p.rules[i]
		}
	}
	return nil
}

// LiveOnly reports whether r keeps no history at all.
func (p *HistoryPolicy) LiveOnly(r wire.Recipient) bool {
	l := p.For(r)
	return l != nil && l.Size == 0
}
