package bench

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func mustParse(t *testing.T, args []string, environ ...string) *Config {
	t.Helper()
	c, _, err := parseConfig(args, environ)
	if err != nil {
		t.Fatalf("parseConfig(%q): %v", args, err)
	}
	return c
}

// The defaults are what RESULTS.md's commands rely on when they leave a flag out.
func TestParseConfigDefaults(t *testing.T) {
	c := mustParse(t, []string{"unicast"})
	want := Config{
		Scenarios: []string{"unicast"}, Clients: 1000, Rates: []float64{0}, Duration: 10 * time.Second,
		Payload: 100, Publishers: 4, Batch: 50, Hold: 180 * time.Second, Concurrency: 200,
		Drain: 30 * time.Second, KillAfter: 5 * time.Second, Topic: "bench", Prefix: "herald", Partitions: 1,
		ConnsPerProcess: 15000, SourceIPs: 16, ClientPing: 15 * time.Second, BaselineWriters: 4,
		NodeValues: []int64{4096, 2048, 1024, 512, 256}, CurveEntries: []int{1, 2, 3, 5, 10, 20, 30, 50, 100},
		CurveRecipients: 10000, HistorySize: 1000, CPURuns: 5,
	}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", *c, want)
	}
}

func TestParseConfigEveryFlag(t *testing.T) {
	c := mustParse(t, []string{
		"baseline,unicast", "idle",
		"--clients", "10000", "--rate", "2000, 20000,0", "--duration", "20s", "--nodes", "3", "--payload", "200",
		"--window", "500", "--publishers", "8", "--batch", "25", "--hold", "1m", "--concurrency", "50",
		"--drain", "5s", "--kill-after", "2s", "--topic", "news", "--target", "a:1,b:2", "--redis", "r:6379",
		"--secret", "s3", "--prefix", "hx", "--partitions", "4", "--node-flag=--streams.read_count=1000",
		"--node-flag=--log.level=info", "--workers", "2", "--conns-per-process", "5000", "--source-ips", "0",
		"--client-ping", "5s", "--baseline-writers", "2", "--out", "o", "--cpuprofile", "p", "--no-report",
		"--redis-arg=--stream-node-max-bytes=1024", "--stream-node-max-bytes", "1024,256", "--curve-entries", "1,5",
		"--curve-recipients", "10", "--history-size", "50", "--cpu-runs", "2", "--herald-bin", "/bin/h",
	})
	want := Config{
		Scenarios: []string{"baseline", "unicast", "idle"}, Clients: 10000, Rates: []float64{2000, 20000, 0},
		Duration: 20 * time.Second, Nodes: 3, Payload: 200, Window: 500, Publishers: 8, Batch: 25, Hold: time.Minute,
		Concurrency: 50, Drain: 5 * time.Second, KillAfter: 2 * time.Second, Topic: "news", Target: []string{"a:1", "b:2"},
		Redis: "r:6379", Secret: "s3", Prefix: "hx", Partitions: 4,
		NodeFlags: []string{"--streams.read_count=1000", "--log.level=info"}, Workers: 2, ConnsPerProcess: 5000,
		SourceIPs: 0, ClientPing: 5 * time.Second, BaselineWriters: 2, Out: "o", CPUProfile: "p", HeraldBin: "/bin/h",
		NoReport: true, RedisArgs: []string{"--stream-node-max-bytes=1024"}, NodeValues: []int64{1024, 256},
		CurveEntries: []int{1, 5}, CurveRecipients: 10, HistorySize: 50, CPURuns: 2,
	}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("flags:\n got %+v\nwant %+v", *c, want)
	}
}

// all is every scenario in order, but the baseline's idle run.
func TestParseConfigAll(t *testing.T) {
	c := mustParse(t, []string{"all"})
	if got, want := c.Scenarios, scenarioNames[:len(scenarioNames)-1]; !reflect.DeepEqual(got, want) {
		t.Errorf("all = %v, want %v", got, want)
	}
	if c.Scenarios[len(c.Scenarios)-1] == "baseline-idle" {
		t.Error("all runs baseline-idle")
	}
	c = mustParse(t, []string{"all,baseline-idle"})
	if len(c.Scenarios) != len(scenarioNames) || c.Scenarios[len(c.Scenarios)-1] != "baseline-idle" {
		t.Errorf("all,baseline-idle = %v", c.Scenarios)
	}
}

// The token secret of given nodes comes from --secret, else the environment.
func TestParseConfigSecret(t *testing.T) {
	env := []string{"HOME=/root", "HERALD_AUTH__HMAC_SECRET=from-env", "X=HERALD_AUTH__HMAC_SECRET=no"}
	if c := mustParse(t, []string{"unicast"}, env...); c.Secret != "from-env" {
		t.Errorf("secret %q, want the environment's", c.Secret)
	}
	if c := mustParse(t, []string{"unicast", "--secret", "flag"}, env...); c.Secret != "flag" {
		t.Errorf("secret %q, want the flag's", c.Secret)
	}
	if c := mustParse(t, []string{"unicast"}, "HERALD_AUTH__HMAC_SECRETX=no"); c.Secret != "" {
		t.Errorf("secret %q from another variable", c.Secret)
	}
	if got := envValue([]string{"A=1", "B", "A=2"}, "A"); got != "1" {
		t.Errorf("envValue = %q, want the first", got)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "name a scenario"},
		{[]string{","}, "name a scenario"},
		{[]string{"unicast,nope"}, `unknown scenario "nope" (scenarios: baseline, unicast, connect`},
		{[]string{"unicast", "--rate", "x"}, `--rate: "x" is not a rate`},
		{[]string{"unicast", "--rate", "100,-1"}, `--rate: "-1" is not a rate`},
		{[]string{"unicast", "--clients", "0"}, "--clients must be at least 1"},
		{[]string{"unicast", "--duration", "0s"}, "--duration must be positive"},
		{[]string{"unicast", "--payload", "39"}, "--payload must be at least 40 bytes"},
		{[]string{"unicast", "--publishers", "0"}, "--publishers and --batch must be at least 1"},
		{[]string{"unicast", "--batch", "0"}, "--publishers and --batch must be at least 1"},
		{[]string{"unicast", "--partitions", "0"}, "--partitions must be at least 1"},
		{[]string{"unicast", "--conns-per-process", "0"}, "--conns-per-process must be at least 1"},
		{[]string{"unicast", "--concurrency", "0"}, "--concurrency must be at least 1"},
		{[]string{"unicast", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"unicast", "--clients", "many"}, `invalid argument "many"`},
		{[]string{"redis-memory", "--stream-node-max-bytes", "4096,0"}, `--stream-node-max-bytes: "0" is not a positive number`},
		{[]string{"redis-memory", "--stream-node-max-bytes", "big"}, `--stream-node-max-bytes: "big"`},
		{[]string{"redis-memory", "--stream-node-max-bytes", ""}, "need a value each at least"},
		{[]string{"redis-memory", "--curve-entries", ""}, "need a value each at least"},
		{[]string{"redis-memory", "--curve-entries", "3,2"}, `--curve-entries: "2": want ascending positive counts`},
		{[]string{"redis-memory", "--curve-entries", "0"}, `--curve-entries: "0"`},
		{[]string{"redis-memory", "--curve-entries", "1,1000"}, "--history-size 1000 must be above every --curve-entries count"},
		{[]string{"redis-memory", "--history-size", "0", "--curve-entries", "1"}, "--history-size 0 must be above"},
		{[]string{"redis-memory", "--curve-recipients", "0"}, "--curve-recipients and --cpu-runs must be at least 1"},
		{[]string{"redis-memory", "--cpu-runs", "0"}, "--curve-recipients and --cpu-runs must be at least 1"},
	} {
		c, fs, err := parseConfig(tc.args, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseConfig(%q) = %v, want an error with %q", tc.args, err, tc.want)
		}
		if c != nil || fs == nil {
			t.Errorf("parseConfig(%q) gave a config %v or no flag set on error", tc.args, c)
		}
	}
}

// --help and `herald bench help` print the scenarios, every flag but the hidden
// one, and plan's usage.
func TestHelp(t *testing.T) {
	if _, _, err := parseConfig([]string{"--help"}, nil); !errors.Is(err, pflag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"unicast", "-h"}} {
		var out bytes.Buffer
		if err := Main(context.Background(), args, nil, &out, &out); !errors.Is(err, pflag.ErrHelp) {
			t.Fatalf("Main(%q) = %v, want ErrHelp", args, err)
		}
		s := out.String()
		for _, want := range append([]string{"Usage:", "--clients int", "--stream-node-max-bytes string", "herald bench plan --from"}, scenarioNames...) {
			if !strings.Contains(s, want) {
				t.Errorf("Main(%q) help lacks %q", args, want)
			}
		}
		if strings.Contains(s, "herald-bin") {
			t.Errorf("the help shows the hidden --herald-bin")
		}
	}
	var out bytes.Buffer
	if err := Main(context.Background(), []string{"plan", "--help"}, nil, &out, &out); !errors.Is(err, pflag.ErrHelp) ||
		!strings.Contains(out.String(), "--compare-ttl string") || !strings.Contains(out.String(), "estimates the nodes and Redis capacity") {
		t.Errorf("plan --help: %v\n%s", err, out.String())
	}
}

// A bad command line fails before anything starts: no output directory, no process.
func TestMainRefusesBadArguments(t *testing.T) {
	dir := t.TempDir() + "/never"
	var out bytes.Buffer
	err := Main(context.Background(), []string{"unicast", "--clients", "-3", "--out", dir}, nil, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "--clients") {
		t.Fatalf("Main = %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("output before the error: %q", out.String())
	}
}

func TestParseCurveKeepsOrderAndBounds(t *testing.T) {
	c := &Config{HistorySize: 100, CurveRecipients: 1, CPURuns: 1}
	if err := c.parseCurve("256, 4096 ,1024", "1,99"); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.NodeValues, []int64{256, 4096, 1024}) || !reflect.DeepEqual(c.CurveEntries, []int{1, 99}) {
		t.Errorf("values %v, entries %v", c.NodeValues, c.CurveEntries)
	}
	c = &Config{HistorySize: 100, CurveRecipients: 1, CPURuns: 1}
	if err := c.parseCurve("1024", "1,100"); err == nil {
		t.Error("an entry count equal to history.size was accepted (it is measured on its own)")
	}
}

func TestSplitListAndKnown(t *testing.T) {
	for in, want := range map[string][]string{
		"":          nil,
		" , ,":      nil,
		"a":         {"a"},
		" a ,b,,c ": {"a", "b", "c"},
	} {
		if got := splitList(in); !reflect.DeepEqual(got, want) {
			t.Errorf("splitList(%q) = %q, want %q", in, got, want)
		}
	}
	for _, n := range scenarioNames {
		if !known(n) {
			t.Errorf("%s not known", n)
		}
	}
	if known("all") || known("Unicast") || known("") {
		t.Error("known accepts a name that is not a scenario")
	}
}
