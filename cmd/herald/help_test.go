package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// herald --help, -h and help show the command list first, listen included.
func TestHelpListsTheCommandsFirst(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"help", "help"}} {
		var out, errOut bytes.Buffer
		if c := run(context.Background(), args, nil, &out, &errOut); c != 0 {
			t.Fatalf("herald %v: exit %d: %s", args, c, errOut.String())
		}
		text := out.String()
		cmds := strings.Index(text, "Commands:")
		if cmds < 0 || cmds > 200 || strings.Contains(text, "--redis.prefix") {
			t.Fatalf("herald %v does not start with the commands, or lists every key:\n%s", args, text)
		}
		for _, c := range []string{"serve", "listen", "token", "publish", "config", "health", "bench", "herald config --keys"} {
			if !strings.Contains(text, c) {
				t.Errorf("herald %v does not mention %q", args, c)
			}
		}
	}
}

// A command's help shows its own flags first, then points at the keys instead
// of listing them.
func TestHelpOfACommandShowsItsOwnFlags(t *testing.T) {
	tests := []struct {
		args []string
		own  []string
	}{
		{[]string{"publish", "--help"}, []string{"--to", "--topic", "--id", "--from", "--ttl"}},
		{[]string{"token", "--help"}, []string{"--user", "--ttl", "--device", "--topics"}},
		{[]string{"listen", "--help"}, []string{"--user", "--since", "--topic", "--device", "--ack", "--token", "--url"}},
		{[]string{"help", "listen"}, []string{"--user", "--since"}},
		{[]string{"config", "-h"}, []string{"--keys", "--partitions", "--reference"}},
		{[]string{"health", "--help"}, []string{"--url", "--timeout"}},
		{[]string{"serve", "--help"}, nil},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		if c := run(context.Background(), tt.args, nil, &out, &errOut); c != 0 {
			t.Fatalf("herald %v: exit %d: %s", tt.args, c, errOut.String())
		}
		text := out.String()
		pointer := strings.Index(text, "herald config --keys")
		if !strings.HasPrefix(text, "Usage: herald "+tt.args[0]) && !strings.HasPrefix(text, "Usage: herald "+tt.args[len(tt.args)-1]) {
			t.Errorf("herald %v starts %q, want its usage line", tt.args, firstLine(text))
		}
		if pointer < 0 || strings.Contains(text, "--redis.prefix") || strings.Contains(text, "--history.size") {
			t.Errorf("herald %v lists keys instead of pointing at herald config --keys:\n%s", tt.args, text)
		}
		for _, f := range tt.own {
			if i := strings.Index(text, f+" "); i < 0 || i > pointer {
				t.Errorf("herald %v: flag %s missing or after the pointer:\n%s", tt.args, f, text)
			}
		}
	}
}

// An unknown flag is answered with the nearest one, on every command.
func TestHelpSuggestsTheNearestFlag(t *testing.T) {
	env := []string{"HERALD_DEV_STATE=" + filepath.Join(t.TempDir(), "dev.json")}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--redis.adress", "x:1"}, "did you mean --redis.addr?"},
		{[]string{"--redis.adress", "x:1"}, "did you mean --redis.addr?"},
		{[]string{"publish", "--too", "alice", "{}"}, "did you mean --to?"},
		{[]string{"listen", "--usr", "alice"}, "did you mean --user?"},
		{[]string{"token", "--hmac_secret", "x"}, "did you mean --auth.hmac_secret?"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		c := run(context.Background(), tt.args, env, &out, &errOut)
		if c == 0 || !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("herald %v: exit %d, stderr %q; want an error saying %q", tt.args, c, errOut.String(), tt.want)
		}
	}
}

// An error is prefixed "herald:" once, not "herald: herald:".
func TestCLIErrorsSayHeraldOnce(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	env := []string{"HERALD_DEV_STATE=" + filepath.Join(t.TempDir(), "dev.json")}
	var out, errOut bytes.Buffer
	c := run(context.Background(), []string{"serve", "--server.addr", busy.Addr().String()}, env, &out, &errOut)
	if c != 1 || !strings.Contains(errOut.String(), "herald: listen on "+busy.Addr().String()) || strings.Contains(errOut.String(), "herald: herald:") {
		t.Fatalf("exit %d, stderr %q; want one herald: before the listen error", c, errOut.String())
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
