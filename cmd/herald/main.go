package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9/logging"
	"github.com/spf13/pflag"
)

func main() {
	execWithSmallStacks(os.Args[1:])
	logging.Disable() // go-redis would print every failed dial; we count and rate-limit our own
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// run dispatches a command line; it returns the exit code.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	cmd, rest := "serve", args
	if len(args) > 0 && (isHelp(args[0]) || len(args[0]) > 0 && args[0][0] != '-') {
		cmd, rest = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, rest, environ, stdout, stderr)
	case "listen":
		err = listen(ctx, rest, environ, stdout, stderr)
	case "token":
		err = token(rest, environ, stdout)
	case "publish":
		err = publish(ctx, rest, environ, stdout)
	case "config":
		err = showConfig(rest, environ, stdout)
	case "health":
		err = health(ctx, rest, environ, stdout)
	case "bench":
		err = benchCmd(ctx, rest, environ, stdout, stderr)
	case "help", "-h", "--help", "-help":
		if len(rest) == 1 && !isHelp(rest[0]) {
			return run(ctx, []string{rest[0], "--help"}, environ, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "herald: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "herald:", err)
		return 1
	}
	return 0
}
