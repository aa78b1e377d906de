package streams_test

import (
	"context"
	"testing"
	"time"

	"github.com/herald-push/herald/streams"
)

// A membership whose Start failed (Redis down, or a Redis Cluster master just
// restarted and still answering CLUSTERDOWN) runs no loop, and Stop returns at
// once. A node whose start failed there stops its helpers with no deadline: Stop
// waited for a loop that never ran, and the node hung for good with its listener
// closed instead of exiting with the error (seen by the nemesis on a Redis
// Cluster, docs/NEMESIS.md).
func TestClusterStopAfterAFailedStartReturns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.withoutRetries(t)
	e.srv.Kill()
	c := streams.NewCluster(e.rdb, e.keys, streams.ClusterConfig{Node: "a", NodeTTL: 2 * time.Second, Debounce: time.Second},
		nil, nil, e.log, e.metrics, e.health)
	if err := c.Start(testCtx(t)); err == nil {
		t.Fatal("Start succeeded with Redis down")
	}
	stopped := make(chan struct{})
	go func() {
		c.Stop(context.Background()) // as startNode calls it
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop after a failed Start did not return within 5 s")
	}
}
