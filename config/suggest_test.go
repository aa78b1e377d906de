package config

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// A mistyped flag or key is answered with the nearest one, when one is near.
func TestUnknownFlagsAndKeysSuggestTheNearest(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		environ []string
		want    string // "" : no suggestion
	}{
		{"flag typo", []string{"--redis.adress", "x:1"}, nil, "did you mean --redis.addr?"},
		{"flag with an extra letter", []string{"--history.sizes=3"}, nil, "did you mean --history.size?"},
		{"flag without its section", []string{"--hmac_secret", "x"}, nil, "did you mean --auth.hmac_secret?"},
		{"a command's own flag", []string{"--usr", "alice"}, nil, "did you mean --user?"},
		{"nothing near", []string{"--frobnicate"}, nil, ""},
		{"env typo", nil, []string{"HERALD_REDIS__ADRR=x:1"}, "did you mean redis.addr?"},
		{"yaml typo", []string{"--config", "YAML"}, nil, "did you mean server.addr?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if len(args) == 2 && args[1] == "YAML" {
				args = []string{"--config", writeYAML(t, "server: {adr: x}")}
			}
			l := NewLoader("herald test")
			l.Flags().String("user", "", "a command's own flag")
			_, err := l.Load(args, tt.environ)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want == "" && strings.Contains(err.Error(), "did you mean") {
				t.Fatalf("error %q suggests something far", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to say %q", err, tt.want)
			}
		})
	}
}

func TestMistypeCost(t *testing.T) {
	for _, tt := range []struct {
		name, key string
		cost      int
	}{
		{"", "", 0}, {"same", "same", 0}, {"", "ab", 4}, {"kitten", "sitting", 6},
		{"abc", "", 3},                       // all typed past the key
		{"history.sizes", "history.size", 1}, // one byte past
		{"redis.adress", "redis.addr", 5},    // "ad(d)r", then "ess" past it
		{"redis.adress", "redis.addrs", 5},   // "ad(d)r(e)s", then "s" past it
	} {
		if c := mistypeCost(tt.name, tt.key); c != tt.cost {
			t.Errorf("mistypeCost(%q, %q) = %d, want %d", tt.name, tt.key, c, tt.cost)
		}
	}
}

// A command's help lists its own flags, not the keys.
func TestCommandFlagsAreTheCallersOnly(t *testing.T) {
	l := NewLoader("herald test")
	l.Flags().String("user", "", "user id")
	l.Flags().Bool("ack", false, "ack pushes")
	var names []string
	l.CommandFlags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	if strings.Join(names, ",") != "user,ack" {
		t.Fatalf("command flags %v, want user,ack in the order defined", names)
	}
}
