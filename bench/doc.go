// Package bench is `herald bench`: load scenarios against Herald nodes (started as
// child processes with their own redis-server, or given with --target/--redis),
// against a bare gws baseline on the same machine, and a capacity planner over the
// results. See bench/RESULTS.md for the commands and the figures of this machine.
package bench
