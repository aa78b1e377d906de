package config

import (
	"errors"
	"strings"

	"github.com/spf13/pflag"
)

// CommandFlags are the flags the caller added to Flags() (a command's own
// options), without --config and the one flag per key: a command's help shows
// them first, and points at `herald config --keys` for the many keys.
func (l *Loader) CommandFlags() *pflag.FlagSet {
	own := pflag.NewFlagSet(l.fs.Name(), pflag.ContinueOnError)
	own.SortFlags = false
	l.fs.VisitAll(func(f *pflag.Flag) {
		if _, isKey := lookupKey(f.Name); !isKey && f.Name != "config" {
			own.AddFlag(f)
		}
	})
	return own
}

// didYouMean is a hint for a flag pflag does not know: the nearest flag of fs,
// or "" when none is near enough to be what was meant.
func didYouMean(fs *pflag.FlagSet, err error) string {
	var missing *pflag.NotExistError
	if !errors.As(err, &missing) || missing.GetSpecifiedName() == "" {
		return ""
	}
	var names []string
	fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	if near := nearest(missing.GetSpecifiedName(), names); near != "" {
		return " (did you mean --" + near + "?)"
	}
	return ""
}

// didYouMeanKey is a hint for a key of the file or the environment that is not
// in the table.
func didYouMeanKey(key string) string {
	if near := nearest(key, keyNames()); near != "" {
		return " (did you mean " + near + "?)"
	}
	return ""
}

// nearest is the candidate closest to name by mistypeCost, the first of a tie
// (in table order, where a base key like redis.addr comes before its variants),
// if it is within a third of name's length (two edits at least): --redis.adress
// finds redis.addr, and --frobnicate finds nothing rather than any short key. A
// name that is the last part of a key (--hmac_secret) finds that key.
func nearest(name string, candidates []string) string {
	best, bestCost := "", 2*max(2, len(name)/3)+1
	for _, c := range candidates {
		if strings.HasSuffix(c, "."+name) {
			return c
		}
		if cost := mistypeCost(name, c); cost < bestCost {
			best, bestCost = c, cost
		}
	}
	return best
}

// mistypeCost is the edit distance from name to key (Levenshtein, in bytes: keys
// and flags are ASCII) in half edits: an insertion, deletion or substitution
// costs 2, and each byte of name past what matches the whole key costs 1, since a
// name often spells out a word the key abbreviates (--redis.address for
// redis.addr rather than redis.addrs).
func mistypeCost(name, key string) int {
	prev := make([]int, len(key)+1)
	cur := make([]int, len(key)+1)
	for j := range prev {
		prev[j] = j
	}
	best := 2*len(key) + len(name)
	for i := 1; i <= len(name); i++ {
		cur[0] = i
		for j := 1; j <= len(key); j++ {
			sub := 1
			if name[i-1] == key[j-1] {
				sub = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+sub)
		}
		best = min(best, 2*cur[len(key)]+len(name)-i)
		prev, cur = cur, prev
	}
	return best
}
