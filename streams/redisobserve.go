package streams

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// vanishedKeyMsgs is what a node logs when one of its consumer streams vanished
// under it (Redis lost its data, someone deleted the key, FLUSHDB) and its loop
// recreated the group from the stream's start.
var vanishedKeyMsgs = map[string]string{
	"ingress": "redis key vanished: ingress stream; its router group was recreated from the start of the new stream, " +
		"so entries published since are routed; entries not routed before it vanished are lost",
	"inbox": "redis key vanished: this node's inbox; its group was recreated from the start of the new stream, " +
		"and this node's sessions resume from history (closed with 1001)",
}

// vanishedDedupe joins the NOGROUP replies of one vanishing (a read and a reclaim
// may both meet it) into one count and one log line.
const vanishedDedupe = time.Second

// Observer watches the replies of every command a node sends, as a go-redis hook:
// it counts the round trips Redis refused for lack of memory (OOM), and notices a
// router's or the inbox's consumer stream vanishing (NOGROUP, or UNBLOCKED for a
// read blocked on it), which those loops repair by themselves without saying so.
type Observer struct {
	kinds   map[string]string // stream key -> "ingress" or "inbox"
	log     *slog.Logger
	metrics *Metrics

	mu   sync.Mutex
	last map[string]time.Time // stream key -> when it was last seen vanished
}

// NewObserver returns the hook for node's streams; add it with rdb.AddHook.
func NewObserver(keys Keys, node string, log *slog.Logger, m *Metrics) *Observer {
	kinds := map[string]string{keys.Inbox(node): "inbox"}
	for p := 0; p < keys.Partitions(); p++ {
		kinds[keys.Ingress(p)] = "ingress"
	}
	return &Observer{kinds: kinds, log: log, metrics: m, last: make(map[string]time.Time)}
}

// DialHook implements redis.Hook.
func (o *Observer) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (o *Observer) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err != nil && o.noGroupOrOOM(cmd, err) { // cmd.Err() is set only after the hooks
			o.metrics.RedisOOM.Inc()
		}
		return err
	}
}

// ProcessPipelineHook implements redis.Hook.
func (o *Observer) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		oom := false
		for _, c := range cmds {
			if err := c.Err(); err != nil {
				oom = o.noGroupOrOOM(c, err) || oom
			}
		}
		if oom {
			o.metrics.RedisOOM.Inc() // one round trip refused, however many commands it held
		}
		return err
	}
}

// noGroupOrOOM handles a failed command: a NOGROUP on one of the node's consumer
// streams is counted and logged; an OOM is reported to the caller.
func (o *Observer) noGroupOrOOM(cmd redis.Cmder, err error) (oom bool) {
	switch {
	case redis.HasErrorPrefix(err, "OOM"):
		return true
	case redis.HasErrorPrefix(err, "NOGROUP"), redis.HasErrorPrefix(err, "UNBLOCKED the stream key"):
		// UNBLOCKED: a blocked read's stream was deleted (Redis 7); the NOGROUP
		// that follows is the same vanishing.
		o.vanished(streamOf(cmd))
	}
	return false
}

// streamOf is the stream a consumer-group command names.
func streamOf(cmd redis.Cmder) string {
	args := cmd.Args()
	if strings.EqualFold(cmd.Name(), "xreadgroup") {
		for i, a := range args {
			if s, ok := a.(string); ok && strings.EqualFold(s, "streams") && i+1 < len(args) {
				k, _ := args[i+1].(string)
				return k
			}
		}
		return ""
	}
	if len(args) > 1 {
		k, _ := args[1].(string)
		return k
	}
	return ""
}

func (o *Observer) vanished(stream string) {
	kind, ok := o.kinds[stream]
	if !ok {
		return
	}
	now := time.Now()
	o.mu.Lock()
	if now.Sub(o.last[stream]) < vanishedDedupe {
		o.mu.Unlock()
		return
	}
	o.last[stream] = now
	o.mu.Unlock()
	o.metrics.KeysVanished.WithLabelValues(kind).Inc()
	o.log.Warn(vanishedKeyMsgs[kind], "stream", stream)
}

var _ redis.Hook = (*Observer)(nil)
