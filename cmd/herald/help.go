package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/herald-push/herald/config"
)

// usage is `herald help`: the commands first, then where their flags are.
const usage = `herald: a WebSocket push engine over Redis Streams

Usage: herald <command> [flags]

Commands:
  serve    run a node (the default command); with no Redis configured, one node on
           an embedded store, with a demo page at http://localhost:8080/
  listen   connect as a user and print every frame as a JSON line
  token    print a signed token for trying things out
  publish  append a push to the ingress stream
  config   print the effective configuration, secrets masked
  health   exit 0 when a node's /readyz answers 200 (the container's health check)
  bench    measure a node or cluster (herald bench help)
  help     this text; herald help <command> shows a command's flags

herald <command> --help shows a command's own flags. Every command also takes
--config FILE and one flag per configuration key (--redis.addr, --log.level, ...):
herald config --keys lists them with their defaults and environment variables.
`

// configPointer ends every command's help: the keys are too many to list there.
const configPointer = `
Configuration: --config FILE, HERALD_* variables, and one flag per key
(--redis.addr, --auth.hmac_secret, --log.level, ...); herald config --keys lists
them all with their defaults.
`

// isHelp reports whether arg asks for help in place of a command.
func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "--help" || arg == "-help"
}

// helpOr prints a command's help when err is the request for it (--help), and
// returns err either way: the caller exits 0 on pflag.ErrHelp. use is the usage
// line, about says what the command does, and the flags shown are the command's
// own, before a pointer to the configuration keys.
func helpOr(err error, w io.Writer, use, about string, l *config.Loader) error {
	if errors.Is(err, pflag.ErrHelp) {
		writeHelp(w, use, about, l.CommandFlags())
	}
	return err
}

func writeHelp(w io.Writer, use, about string, own *pflag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", use, about)
	if own.HasFlags() {
		fmt.Fprintf(w, "\nFlags:\n%s", own.FlagUsages())
	}
	fmt.Fprint(w, configPointer)
}
