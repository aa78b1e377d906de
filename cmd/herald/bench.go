package main

import (
	"context"
	"io"

	"github.com/herald-push/herald/bench"
)

// benchCmd is `herald bench`: load scenarios, reports and capacity plans (package
// bench). Nodes and client workers it starts run this same executable.
func benchCmd(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	return bench.Main(ctx, args, environ, stdout, stderr)
}
