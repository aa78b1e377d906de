// Package loglimit bounds how many lines of one kind a node logs, so that a flood
// (a publisher sending bad entries by the thousand, clients reconnecting at once
// with debug logs on) costs a few lines and a count instead of a log that drowns
// everything else and the disk with it.
//
// A Handler wraps the node's slog.Handler. A line's kind is its message: the
// lines of one kind share a token bucket (Config.Burst lines at once, then
// Config.PerSecond). What the bucket refuses is counted, and one line per
// Config.Report says how many of that kind were suppressed, at their level.
//
// # Goroutines
//
// None that lives: a kind whose lines are being suppressed arms one timer
// (time.AfterFunc) that reports the count when it fires, and ends. Close reports
// what is still counted, stops the timers and waits for a report that is being
// written, so nothing is written after it returns.
//
// # Imports
//
// The standard library only; cmd/herald wraps the node's logger in it, and no
// other package needs to know: they log through the *slog.Logger they are given.
package loglimit
