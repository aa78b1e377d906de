// Package redistest starts real, throw-away redis-server processes for tests.
//
// Project rule: tests that need Redis talk to a real redis-server started
// here on a free loopback port, never to a mock. If redis-server cannot be
// found the test FAILS (it never skips); install Debian's redis-server
// (scripts/ensure-redis.sh) or point $HERALD_REDIS_SERVER at the binary.
//
// Every Server registers its own cleanup, and its process is started with
// Pdeathsig=SIGKILL, so it does not outlive the test binary.
//
// It starts no goroutines of its own beyond the ones that wait for its processes,
// which end with them. It imports streams/redisserver and go-redis, and is imported
// only by tests.
package redistest
