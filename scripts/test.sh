#!/usr/bin/env bash
# The one test command: redis check, gofmt, go vet, go test -race.
# Extra arguments go to `go test`, e.g. scripts/test.sh -run TestFoo -v
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "==> ensure redis-server"
scripts/ensure-redis.sh

echo "==> gofmt -l ."
unformatted="$(gofmt -l .)"
if [ -n "$unformatted" ]; then
	echo "gofmt: these files need formatting (run gofmt -w):" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "==> go vet ./..."
go vet ./...

echo "==> go test -race -count=1 -timeout 20m ./... $*"
go test -race -count=1 -timeout 20m ./... "$@"
