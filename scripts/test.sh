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

# fuzz_once runs one target. Go 1.26's fuzzing coordinator can end a run with
# "context deadline exceeded" and no failing input when -fuzztime expires (a race
# between its timeout context and the workers' child context, golang/go#75804,
# fixed in Go 1.27); that, and only that, is answered with one retry by the
# caller. A real failure writes its input to testdata/fuzz and fails as is.
fuzz_once() {
	local out status
	out="$(mktemp)"
	go test -run '^$' -fuzz "^$2\$" -fuzztime "$fuzztime" "$1" 2>&1 | tee "$out"
	status=${PIPESTATUS[0]}
	if [ "$status" -ne 0 ] && grep -q "context deadline exceeded" "$out" && ! grep -q "Failing input written" "$out"; then
		rm -f "$out"
		echo "==> $2: the fuzzing engine timed out stopping its workers (no failing input); once more"
		return 1
	fi
	rm -f "$out"
	[ "$status" -eq 0 ] || exit "$status"
}
if [ "$fuzztime" != "0" ] && [ $# -eq 0 ]; then
	for target in \
		./wire:FuzzDecodeClientFrame \
		./wire:FuzzParseOffset \
		./gateway/auth:FuzzVerify \
		./client:FuzzDecodeFrame \
		./streams:FuzzParseIngress \
		./streams:FuzzParseControl \
		./config:FuzzLoad; do
		pkg="${target%%:*}" fn="${target##*:}"
		echo "==> fuzz $fn ($pkg, $fuzztime)"
		fuzz_once "$pkg" "$fn" || fuzz_once "$pkg" "$fn"
	done
fi
