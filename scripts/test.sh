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

# Each fuzz target for a bounded time (HERALD_FUZZTIME, default 10s; 0 skips), on
# top of its seed corpus that go test above already ran. Crashers land in the
# package's testdata/fuzz and become regression cases.
fuzztime="${HERALD_FUZZTIME:-10s}"
if [ "$fuzztime" != "0" ] && [ $# -eq 0 ]; then
	for target in \
		./gateway/wire:FuzzDecodeClientFrame \
		./gateway/wire:FuzzParseOffset \
		./gateway/auth:FuzzVerify \
		./gateway/client:FuzzDecodeFrame \
		./streams:FuzzParseIngress \
		./config:FuzzLoad; do
		pkg="${target%%:*}" fn="${target##*:}"
		echo "==> fuzz $fn ($pkg, $fuzztime)"
		go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$fuzztime" "$pkg"
	done
fi
