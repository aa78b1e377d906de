package main

import (
	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/streams"
)

// historyPolicy is history.topics for the router and the history reader; nil
// when no topic has a history of its own.
func historyPolicy(h config.History) *streams.HistoryPolicy {
	var rules []streams.HistoryRule
	for _, r := range h.TopicRules() {
		rules = append(rules, streams.HistoryRule{Pattern: r.Pattern, Size: r.Size, TTL: r.TTL})
	}
	return streams.NewHistoryPolicy(h.TTL, rules)
}
