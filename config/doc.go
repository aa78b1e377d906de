// Package config loads and validates Herald's typed configuration.
//
// Values come, lowest precedence first, from the defaults in the key table
// (keys.go), the YAML file named by --config, HERALD_* environment variables
// and command-line flags (docs/PROTOCOL.md §7). koanf is an implementation detail
// of this package: callers only see Config. Load checks every value and every
// combination, and returns every error at once.
//
// It starts no goroutines. It is a leaf: it imports none of Herald's packages, and
// every other package may import it (in practice only cmd/herald does, and hands
// each service the values it needs).
package config
