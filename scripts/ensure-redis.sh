#!/usr/bin/env bash
# Make sure a real redis-server (and redis-cli, for cluster tests) is installed.
# Herald's Redis tests start their own redis-server on a free loopback port
# (package streams/redistest); they never use a mock and never skip.
set -euo pipefail

find_bin() { # name -> path on PATH, /usr/bin or /usr/sbin
	command -v "$1" 2>/dev/null && return 0
	for d in /usr/bin /usr/sbin; do
		[ -x "$d/$1" ] && { echo "$d/$1"; return 0; }
	done
	return 1
}

have_redis() {
	if [ -n "${HERALD_REDIS_SERVER:-}" ]; then
		[ -x "$HERALD_REDIS_SERVER" ] || command -v "$HERALD_REDIS_SERVER" >/dev/null 2>&1 || return 1
		server="$HERALD_REDIS_SERVER"
	else
		server="$(find_bin redis-server)" || return 1
	fi
	cli="$(find_bin redis-cli)" || return 1
}

if have_redis; then
	echo "redis: $("$server" --version) ($server; cli: $cli)"
	exit 0
fi

if [ -n "${HERALD_REDIS_SERVER:-}" ] && ! command -v "$HERALD_REDIS_SERVER" >/dev/null 2>&1; then
	echo "HERALD_REDIS_SERVER=$HERALD_REDIS_SERVER is not an executable redis-server" >&2
	exit 1
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "redis-server/redis-cli not found; installing Debian's redis-server and redis-tools" >&2
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server redis-tools
	# Tests start their own servers: stop the one the package may have
	# started (no systemd in a container, so every step may fail).
	service redis-server stop >/dev/null 2>&1 || true
	systemctl disable --now redis-server >/dev/null 2>&1 || true
	redis-cli -p 6379 shutdown nosave >/dev/null 2>&1 || true
	if have_redis; then
		echo "redis: $("$server" --version) ($server; cli: $cli)"
		exit 0
	fi
fi

echo "redis-server not found; install Debian's redis-server (apt-get install redis-server) or set HERALD_REDIS_SERVER" >&2
exit 1
