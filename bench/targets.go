package bench

import (
	"fmt"
	"strings"
)

// The targets of the bench suite, stated for this 2-core machine with clients,
// Redis and Herald sharing it.
const (
	targetIdleRSS        = 8 * 1024 // bytes per idle connection
	targetUnicastMax     = 40_000   // msgs/s flat out at 10,000 connections
	targetUnicastRatio   = 0.5      // of the baseline
	targetP99At2k        = 5.0      // ms
	targetP99At20k       = 25.0     // ms
	targetBroadcast      = 150_000  // deliveries/s to 10,000 subscribers
	targetBroadcastRatio = 0.8
	targetConnect        = 5_000 // sessions/s
	targetFailoverBackS  = 5.0
)

// baselineFor finds the baseline run that matches s: same mode, rate and clients.
func baselineFor(r *Results, s *ScenarioResult) *ScenarioResult {
	var best *ScenarioResult
	for _, b := range r.Scenarios {
		if b.Params.Server == kindBaseline && b.Status == statusOK && b.Params.Mode == s.Params.Mode &&
			b.Params.Rate == s.Params.Rate && b.Params.Clients == s.Params.Clients {
			best = b
		}
	}
	return best
}

// compareToBaseline adds, to every Herald run that has a matching baseline run, its
// throughput as a fraction of the baseline's (and the baseline's figures).
func compareToBaseline(r *Results) {
	for _, s := range r.Scenarios {
		if s.Params.Server != kindHerald || s.Status != statusOK {
			continue
		}
		b := baselineFor(r, s)
		if b == nil {
			continue
		}
		if s.Params.Mode == modeIdle {
			if v, ok := s.Figure("rss_per_conn_bytes"); ok {
				if bv, ok := b.Figure("rss_per_conn_bytes"); ok && bv > 0 {
					s.add("baseline_rss_per_conn_bytes", "baseline (bare gws) RSS per connection", bv, "B")
					s.add("rss_vs_baseline", "RSS per connection vs baseline", v/bv, "x")
				}
			}
			continue
		}
		v, ok1 := s.Figure("delivered_per_s")
		bv, ok2 := b.Figure("delivered_per_s")
		if ok1 && ok2 && bv > 0 {
			s.add("baseline_delivered_per_s", "baseline throughput (same clients, bare gws)", bv, "msgs/s")
			s.add("ratio_to_baseline", "throughput / baseline", v/bv, "")
		}
		if s.Latency != nil && b.Latency != nil {
			s.add("baseline_p99_ms", "baseline p99 latency", b.Latency.P99, "ms")
		}
	}
}

// evaluateTargets records, on each run a target is stated for, whether this run
// met it.
func evaluateTargets(r *Results) {
	for _, s := range r.Scenarios {
		s.Targets = nil
		if s.Status != statusOK || s.Params.Server != kindHerald {
			if s.Status == statusNotSupported {
				s.target("broadcast deliveries/s", "not supported by this node", "missed", s.Error)
			}
			continue
		}
		judge(s, r.Config.NodeFlags)
	}
	redisMemoryTarget(r)
}

// judge records the target of one successful Herald run, if one is stated for it.
func judge(s *ScenarioResult, nodeFlags []string) {
	note := func(want string) string { return targetNote(s, nodeFlags, want) }
	switch {
	case s.Name == "idle":
		idleTarget(s, nodeFlags)
	case s.Name == "unicast" && s.Params.Rate == 0:
		s.throughputTarget("unicast flat out >= 40,000 msgs/s and >= 50% of baseline", "msgs/s", "baseline",
			targetUnicastMax, targetUnicastRatio, note(statedAt(s, 10000)))
	case s.Name == "unicast" && s.Params.Rate == 2000 && s.Latency != nil:
		s.target("unicast p99 at 2,000 msgs/s <= 5 ms", fmt.Sprintf("%s ms", fmtNum(s.Latency.P99)), metOrMissed(s.Latency.P99 <= targetP99At2k), note(statedAt(s, 10000)))
	case s.Name == "unicast" && s.Params.Rate == 20000 && s.Latency != nil:
		s.target("unicast p99 at 20,000 msgs/s <= 25 ms", fmt.Sprintf("%s ms", fmtNum(s.Latency.P99)), metOrMissed(s.Latency.P99 <= targetP99At20k), note(statedAt(s, 10000)))
	case s.Name == "broadcast" && s.Params.Rate == 0:
		s.throughputTarget("broadcast >= 150,000 deliveries/s and >= 80% of baseline", "deliveries/s", "baseline-broadcast",
			targetBroadcast, targetBroadcastRatio, note(statedAt(s, 10000)))
	case s.Name == "connect":
		v, _ := s.Figure("sessions_per_s")
		s.target("connect >= 5,000 sessions/s", fmt.Sprintf("%s sessions/s", fmtNum(v)), metOrMissed(v >= targetConnect), note(""))
	case s.Name == "failover":
		failoverTarget(s, note(""))
	}
}

// targetNote says how a run differs from the setting its target is stated at:
// its connections, given nodes, node flags, and want (the stated setting, when
// the run's differs).
func targetNote(s *ScenarioResult, nodeFlags []string, want string) string {
	n := fmt.Sprintf("measured at %d connections", s.Params.Clients)
	if s.Params.External {
		n += " against given nodes"
	}
	if len(nodeFlags) > 0 {
		n += ", node flags " + strings.Join(nodeFlags, " ")
	}
	if want != "" {
		n += "; the target is stated at " + want
	}
	return n
}

// statedAt is "n connections" when the run had another count, else "".
func statedAt(s *ScenarioResult, n int) string {
	if s.Params.Clients == n {
		return ""
	}
	return fmt.Sprintf("%d connections", n)
}

// idleTarget judges the server's RSS per idle connection, stated at 10,000 and
// 19,000 connections held 180 s.
func idleTarget(s *ScenarioResult, nodeFlags []string) {
	v, ok := s.Figure("rss_per_conn_bytes")
	if !ok {
		return
	}
	want := ""
	if (s.Params.Clients != 10000 && s.Params.Clients != 19000) || s.Params.HoldS < 180 {
		want = "10,000 and 19,000 connections after 180 s"
	}
	note := targetNote(s, nodeFlags, want) + fmt.Sprintf(", hold %.0f s", s.Params.HoldS)
	s.target("server RSS per idle connection <= 8 KiB", fmt.Sprintf("%.2f KiB", v/1024), metOrMissed(v <= targetIdleRSS), note)
}

// failoverTarget judges a failover run: nothing lost, and the clients back on a
// live node within 5 s (a run in which none came back missed it).
func failoverTarget(s *ScenarioResult, note string) {
	lost, _ := s.Figure("lost")
	back, ok := s.Figure("back_s")
	val := fmt.Sprintf("lost %s", fmtNum(lost))
	met := lost == 0
	if ok {
		val += fmt.Sprintf(", back after %.2f s", back)
		met = met && back <= targetFailoverBackS
	} else {
		met = false
		val += ", no reconnection seen"
	}
	s.target("failover: 0 lost, clients back within 5 s", val, metOrMissed(met), note)
}

// redisMemoryTarget reports Redis memory once, on the unicast run that stored the
// most history (its probe filled a long one); missed when no run probed one.
func redisMemoryTarget(r *Results) {
	var mem, fallback *ScenarioResult
	for _, s := range r.Scenarios {
		if s.Redis == nil || s.Redis.PerRecipientBytes <= 0 || s.Name != "unicast" {
			continue
		}
		fallback = s
		if s.Redis.PerEntryBytes > 0 && (mem == nil || s.Redis.HistoryProbeEntries > mem.Redis.HistoryProbeEntries) {
			mem = s
		}
	}
	const memTarget = "Redis memory per active recipient and per retained message reported"
	switch {
	case mem != nil:
		mem.target(memTarget, fmt.Sprintf("%s B per recipient (history stream with 1 entry), %s B per further history entry, %s B per ingress entry",
			fmtNum(mem.Redis.PerRecipientBytes), fmtNum(mem.Redis.PerEntryBytes), fmtNum(mem.Redis.IngressEntryBytes)), "met", "")
	case fallback != nil:
		fallback.target(memTarget, fmt.Sprintf("%s B per recipient (history stream with 1 entry); per entry not seen", fmtNum(fallback.Redis.PerRecipientBytes)),
			"missed", "the history probe did not complete (see the run's notes)")
	}
}

func metOrMissed(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

// throughputTarget judges a flat-out rate against its floor and, when the run
// had the baseline at the same size, its ratio to the baseline.
func (s *ScenarioResult) throughputTarget(name, unit, baseline string, floor, minRatio float64, note string) {
	v, _ := s.Figure("delivered_per_s")
	ratio, hasRatio := s.Figure("ratio_to_baseline")
	val := fmt.Sprintf("%s %s", fmtNum(v), unit)
	met := v >= floor
	if hasRatio {
		val += fmt.Sprintf(", %.0f%% of baseline", ratio*100)
		met = met && ratio >= minRatio
	} else {
		note += "; no " + baseline + " at the same size in this run"
	}
	s.target(name, val, metOrMissed(met), note)
}
