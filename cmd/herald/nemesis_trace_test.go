package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// traceLost explains one lost push from the run's own records: where it is in Redis
// now (ingress, history, node inboxes, dead letters), what its user's client did
// around it, the faults around it, and the node logs of those seconds.
func (r *nemesisRun) traceLost(p nemesisPub) string {
	var b strings.Builder
	pubT := r.rec.since(p.At)
	fmt.Fprintf(&b, "LOST seq %d to %s: push id %s, ingress id %s, published at t=%s (%s)\n",
		p.Seq, p.User, p.ID, p.Ingress, runTime(pubT), p.At.Format("15:04:05.000"))
	if p.Server != "" {
		fmt.Fprintf(&b, "  acknowledged by %s at replication offset %d (compare with \"valid up to offset\" in the logs of the servers promoted after it)\n", p.Server, p.Offset)
	}
	rdb := r.cluster.redis.client(5*time.Second, 2)
	defer rdb.Close()
	offsets := r.traceRedis(&b, rdb, p)
	r.traceClient(&b, p, pubT, offsets)
	r.traceNodeLogs(&b, p.At)
	return b.String()
}

// traceRedis prints the push's state in Redis and returns its history offsets.
func (r *nemesisRun) traceRedis(b *strings.Builder, rdb redis.UniversalClient, p nemesisPub) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, err := rdb.XRange(ctx, "herald:in", p.Ingress, p.Ingress).Result()
	pend, _ := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: "herald:in", Group: "router", Start: p.Ingress, End: p.Ingress, Count: 1}).Result()
	fmt.Fprintf(b, "  ingress: entry still in herald:in: %v (err %v); pending in group router: %v\n", len(in) == 1, err, pend)

	hist, err := rdb.XRange(ctx, "herald:{u:"+p.User+"}:h", "-", "+").Result()
	if err != nil {
		fmt.Fprintf(b, "  history: %v\n", err)
	}
	var offsets []string
	for i, m := range hist {
		if m.Values["id"] != p.ID {
			continue
		}
		offsets = append(offsets, m.ID)
		fmt.Fprintf(b, "  history entry %s (id %s); previous %s; next %s\n", m.ID, p.ID, histEntry(hist, i-1), histEntry(hist, i+1))
	}
	if len(offsets) == 0 {
		fmt.Fprintf(b, "  history: NO entry with id %s among %d entries of herald:{u:%s}:h\n", p.ID, len(hist), p.User)
	}
	for _, n := range r.cluster.nodes {
		inbox, _ := rdb.XRange(ctx, "herald:{n:"+n.id+"}:in", "-", "+").Result()
		for _, m := range inbox {
			if m.Values["id"] == p.ID {
				fmt.Fprintf(b, "  inbox of %s still holds it: entry %s offset %v\n", n.id, m.ID, m.Values["o"])
			}
		}
	}
	dlq, _ := rdb.XRange(ctx, "herald:dlq", "-", "+").Result()
	fmt.Fprintf(b, "  herald:dlq: %d entries\n", len(dlq))
	for _, m := range dlq {
		if m.Values["id"] == p.ID || strings.Contains(fmt.Sprint(m.Values["entry"]), fmt.Sprintf(`"seq":%d,`, p.Seq)) {
			fmt.Fprintf(b, "  dead letter %s: %v\n", m.ID, m.Values)
		}
	}
	return offsets
}

func histEntry(hist []redis.XMessage, i int) string {
	if i < 0 || i >= len(hist) {
		return "none"
	}
	return fmt.Sprintf("%s (id %v, data %v)", hist[i].ID, hist[i].Values["id"], hist[i].Values["data"])
}

// traceClient prints the user's sessions around the publish, the pushes it received
// then, the received offsets just below and above the lost one, the first session
// that resumed past it, and the faults around it.
func (r *nemesisRun) traceClient(b *strings.Builder, p nemesisPub, pubT int64, offsets []string) {
	lost := p.Ingress // no history entry: the ingress id is the best guess of where it would be
	if len(offsets) > 0 {
		lost = offsets[0]
	}
	var sessions, pushes, faults []string
	var below, above, resumedPast *nemesisEvent
	_ = readNemesisRecord(r.rec.path, func(e nemesisEvent) {
		switch {
		case e.Ev == "fault" && within(e.T, pubT, -30000, 30000):
			faults = append(faults, fmt.Sprintf("    t=%s %s %s %s", runTime(e.T), e.Node, e.Kind, e.Detail))
		case e.Ev == "observe" && e.User == "" && within(e.T, pubT, -30000, 30000):
			faults = append(faults, fmt.Sprintf("    t=%s redis: %s = %s", runTime(e.T), e.Kind, e.Detail))
		case e.User != p.User:
		case e.Ev == "push":
			if within(e.T, pubT, -2000, 5000) {
				pushes = append(pushes, "    "+describe(e))
			}
			if offsetAbove(lost, e.Offset) && (below == nil || offsetAbove(e.Offset, below.Offset)) {
				below = &e
			}
			if offsetAbove(e.Offset, lost) && (above == nil || offsetAbove(above.Offset, e.Offset)) {
				above = &e
			}
		case e.Ev == "welcome" && resumedPast == nil && offsetAbove(e.Since, lost):
			resumedPast = &e
			fallthrough
		case e.Ev != "publish" && e.Ev != "publish_fail" && within(e.T, pubT, -15000, 30000):
			sessions = append(sessions, "    "+describe(e))
		}
	})
	fmt.Fprintf(b, "  client of %s, sessions and closes from t-15s to t+30s:\n%s\n", p.User, capLines(sessions, 60))
	fmt.Fprintf(b, "  pushes it received from t-2s to t+5s:\n%s\n", capLines(pushes, 60))
	fmt.Fprintf(b, "  received offset just below %s: %s\n", lost, describePtr(below))
	fmt.Fprintf(b, "  received offset just above %s: %s\n", lost, describePtr(above))
	fmt.Fprintf(b, "  first session resuming past it: %s\n", describePtr(resumedPast))
	fmt.Fprintf(b, "  faults and cluster state in Redis from t-30s to t+30s:\n%s\n", capLines(faults, 80))
}

func within(t, at, from, to int64) bool { return t >= at+from && t <= at+to }

func describe(e nemesisEvent) string {
	s := fmt.Sprintf("t=%s %s node=%s session=%s", runTime(e.T), e.Ev, e.Node, e.Session)
	if e.Kind != "" {
		s += " " + e.Kind
	}
	if e.Since != "" {
		s += " since=" + e.Since
	}
	if e.Offset != "" {
		s += " offset=" + e.Offset
	}
	if e.Seq != 0 {
		s += fmt.Sprintf(" seq=%d id=%s", e.Seq, e.ID)
	}
	if e.Dup {
		s += " dup"
	}
	if e.Late {
		s += " late"
	}
	if e.Code != 0 {
		s += fmt.Sprintf(" code=%d", e.Code)
	}
	if e.Detail != "" {
		s += " " + e.Detail
	}
	return s
}

func describePtr(e *nemesisEvent) string {
	if e == nil {
		return "none"
	}
	return describe(*e)
}

func capLines(lines []string, n int) string {
	if len(lines) > n {
		lines = append(lines[:n:n], fmt.Sprintf("    ... %d more", len(lines)-n))
	}
	if len(lines) == 0 {
		return "    (none)"
	}
	return strings.Join(lines, "\n")
}

// traceNodeLogs prints each node's log lines from 3 s before to 10 s after at.
func (r *nemesisRun) traceNodeLogs(b *strings.Builder, at time.Time) {
	for _, n := range r.cluster.nodes {
		var lines []string
		f, err := os.Open(filepath.Join(r.dir, n.id+".log"))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if ts, ok := logTime(sc.Text()); ok && !ts.Before(at.Add(-3*time.Second)) && !ts.After(at.Add(10*time.Second)) {
				lines = append(lines, "    "+sc.Text())
			}
		}
		f.Close()
		fmt.Fprintf(b, "  log of %s from t-3s to t+10s:\n%s\n", n.id, capLines(lines, 30))
	}
}

// logTime reads the time of a slog text line ("time=... level=...") or of the
// nemesis's own start marker.
func logTime(line string) (time.Time, bool) {
	if v, ok := strings.CutPrefix(line, "time="); ok {
		v, _, _ = strings.Cut(v, " ")
		ts, err := time.Parse(time.RFC3339Nano, v)
		return ts, err == nil
	}
	if i := strings.LastIndex(line, " at "); strings.HasPrefix(line, "### nemesis:") && i > 0 {
		ts, err := time.Parse(time.RFC3339Nano, line[i+4:])
		return ts, err == nil
	}
	return time.Time{}, false
}
