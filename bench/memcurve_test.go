package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/herald-push/herald/streams/redisserver"
	"github.com/herald-push/herald/streams/redistest"
)

// The redis-memory scenario at a small size: a curve for two values, its CPU
// figures, its report charts, and a plan that uses it.
func TestRedisMemoryCurveReportAndPlan(t *testing.T) {
	r := runBench(t, "redis-memory", "--curve-recipients", "200", "--curve-entries", "1,3,10", "--history-size", "50",
		"--stream-node-max-bytes", "4096,256", "--cpu-runs", "2")
	s := scenario(t, r, "redis-memory")
	if s.Status != statusOK || s.Curve == nil {
		t.Fatalf("status %s (%s), curve %v", s.Status, s.Error, s.Curve)
	}
	c := s.Curve
	if len(c.Points) != 8 || c.Configured != 4096 || c.HistorySize != 50 || c.RedisVersion == "" {
		t.Fatalf("curve: %+v", c)
	}
	big, _ := c.point(4096, 1)
	small, _ := c.point(256, 1)
	full, _ := c.point(256, 50)
	// Redis 7 preallocates min(stream-node-max-bytes, 4096) for a stream's first
	// node: one entry costs more than 4 KB by default, far less under 256.
	if big.BytesPerRecipient < 4096 || small.BytesPerRecipient > big.BytesPerRecipient/3 || !full.Full {
		t.Errorf("per recipient at 1 entry: 4096 %v B, 256 %v B; full point %+v", big.BytesPerRecipient, small.BytesPerRecipient, full)
	}
	if len(c.CPU) != 10 {
		t.Fatalf("CPU figures: %+v", c.CPU)
	}
	for _, x := range c.CPU {
		if len(x.Runs) != 2 || x.UsecPerCall <= 0 || x.MinUsec > x.UsecPerCall || x.MaxUsec < x.UsecPerCall {
			t.Errorf("CPU %+v", x)
		}
	}
	if _, ok := s.Figure("bytes_per_recipient_1_at_256"); !ok {
		t.Errorf("no headline figure: %+v", s.Figures)
	}
	html, err := os.ReadFile(filepath.Join(r.Config.Out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(html), "data:image/png;base64,"); n != 2 || !strings.Contains(string(html), "stream-node-max-bytes 256") {
		t.Errorf("report.html: %d charts", n)
	}
	// plan reads the curve next to a unicast run's results.
	uni := filepath.Join(t.TempDir(), "unicast.json")
	if err := writeJSON(uni, planResults(0, nil)); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Main(context.Background(), []string{"plan", "--from", uni + "," + filepath.Join(r.Config.Out, "results.json"),
		"--history-size", "50", "--users", "1000", "--rate", "1"}, nil, &b, &b); err != nil {
		t.Fatalf("plan: %v\n%s", err, b.String())
	}
	for _, want := range []string{"under stream-node-max-bytes 4096 (the setting of the Redis redis-memory measured", "stream-node-max-bytes  256", "history.ttl"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan output lacks %q:\n%s", want, b.String())
		}
	}
}

// On an existing Redis the scenario measures its own setting only, changes no
// configuration, and leaves no key behind.
func TestRedisMemoryOnAnExistingRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	r := runBench(t, "redis-memory", "--redis", srv.Addr, "--curve-recipients", "50", "--curve-entries", "1,5",
		"--history-size", "20", "--cpu-runs", "1", "--no-report")
	c := scenario(t, r, "redis-memory").Curve
	if c == nil || len(c.Values()) != 1 || c.Values()[0] != int64(redisserver.RecommendedStreamNodeMaxBytes) || len(c.Points) != 3 {
		t.Fatalf("curve on an existing Redis: %+v", c)
	}
	rdb := srv.Client(t)
	if n := rdb.DBSize(context.Background()).Val(); n != 0 {
		t.Errorf("%d keys left behind", n)
	}
	if v := rdb.ConfigGet(context.Background(), "stream-node-max-bytes").Val()["stream-node-max-bytes"]; v != strconv.Itoa(redisserver.RecommendedStreamNodeMaxBytes) {
		t.Errorf("stream-node-max-bytes changed to %s", v)
	}
}
