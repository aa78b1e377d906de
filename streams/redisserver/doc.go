// Package redisserver has what both the test harness (streams/redistest) and
// `herald bench` need to run throw-away redis-server processes: finding the
// binary, picking a free loopback port, and sending a command without a client
// library (readiness checks that leave no goroutines behind).
//
// It starts no goroutines and imports none of Herald's packages.
package redisserver
