package bench

import (
	"context"
	"math"
	"math/rand"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/streams/redisserver"
	"github.com/herald-push/herald/streams/redistest"
)

// The plan's history memory against a real herald node's: a redis-memory curve,
// then a node that routes ten pushes per user on average to 1,000 users on a
// Redis with the same stream-node-max-bytes. The plan must come within 20 % of
// what Redis holds; it fails when the curve stops writing what the router writes.
func TestPlanHistoryMatchesARealNode(t *testing.T) {
	r := runBench(t, "redis-memory", "--curve-recipients", "500", "--curve-entries", "1,2,3,5,10,20,30,50",
		"--history-size", "100", "--stream-node-max-bytes", "4096", "--cpu-runs", "1", "--no-report")
	const users, perUser = 1000, 10
	in := planInput{users: users, perUser: 1, rate: users * perUser / 86400.0, p99: 100, headroom: 0.7, active: 1,
		histSize: 100, histTTL: 24 * time.Hour, ingressSecs: 10}
	res := planResults(0, nil)
	res.Scenarios = append(res.Scenarios, r.Scenarios...)
	p, err := makePlan(res, in)
	if err != nil {
		t.Fatal(err)
	}
	real := realHistoryBytes(t, users, perUser)
	if ratio := p.RedisHistoryBytes / real; math.Abs(ratio-1) > 0.2 {
		t.Fatalf("plan %.0f B of history, a real node %.0f B: %.0f%% off", p.RedisHistoryBytes, real, (ratio-1)*100)
	}
	t.Logf("plan %.0f B, real %.0f B", p.RedisHistoryBytes, real)
}

// realHistoryBytes runs a herald node on a Redis with stream-node-max-bytes 4096,
// publishes users x perUser pushes to users picked at random, and returns what
// Redis gained once they were routed, the ingress stream left out.
func realHistoryBytes(t *testing.T, users, perUser int) float64 {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{Args: []string{"--stream-node-max-bytes", "4096"}})
	rdb := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	port, err := redisserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	node, err := startServerProc(ctx, "node", heraldBin.Path(t), []string{"serve", "--redis.addr", srv.Addr, "--server.addr", addr,
		"--auth.hmac_secret", newSecret(), "--node.id", "real", "--log.level", "warn"}, addr, "/readyz", filepath.Join(t.TempDir(), "node.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer node.Kill()
	before, err := usedMemory(ctx, rdb)
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewSource(1))
	pipe := rdb.Pipeline()
	for n := 0; n < users*perUser; n++ {
		data := string(appendPayload(nil, int64(n), time.Now().UnixNano(), false, 100))
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: "herald:in", Values: []any{"to", "u" + strconv.Itoa(rnd.Intn(users)), "data", data}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	waitRouted(t, ctx, rdb)
	after, err := usedMemory(ctx, rdb)
	if err != nil {
		t.Fatal(err)
	}
	ingress := rdb.MemoryUsage(ctx, "herald:in", 0).Val()
	return after - before - float64(ingress)
}

// waitRouted waits until the router has read and acknowledged every ingress entry.
func waitRouted(t *testing.T, ctx context.Context, rdb *redis.Client) {
	t.Helper()
	for ctx.Err() == nil {
		groups, err := rdb.XInfoGroups(ctx, "herald:in").Result()
		if err == nil && len(groups) == 1 && groups[0].Lag == 0 && groups[0].Pending == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the node did not route every push within a minute")
}
