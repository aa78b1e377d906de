//go:build race

package main

// nemesisRace: the test binary runs with the race detector, so the nodes do too.
const nemesisRace = true
