package streams

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// upstreamMaxLen caps herald:up; backends are expected to read it continuously
// with their own consumer group.
const upstreamMaxLen = 1_000_000

// Upstream appends client messages for the product's backends: send frames to
// herald:up, publish frames to the ingress stream as topic pushes.
type Upstream struct {
	rdb        redis.UniversalClient
	keys       Keys
	publisher  *Publisher
	maxPayload int
	metrics    *Metrics
}

// NewUpstream returns the upstream writer.
func NewUpstream(rdb redis.UniversalClient, keys Keys, pub *Publisher, maxPayload int, m *Metrics) *Upstream {
	return &Upstream{rdb: rdb, keys: keys, publisher: pub, maxPayload: maxPayload, metrics: m}
}

// Send appends m to herald:up and returns its entry id. A payload over the limit or
// not valid JSON is a Rejection.
func (u *Upstream) Send(ctx context.Context, m wire.UpMessage) (string, error) {
	if _, err := parseData(string(m.Data), u.maxPayload); err != nil {
		return "", err
	}
	values := []any{"user", m.User, "session", m.Session, "node", m.Node, "ref", m.Ref,
		"ts", strconv.FormatInt(m.TS, 10), "data", string(m.Data)}
	if m.Device != "" {
		values = append(values, "device", m.Device)
	}
	id, err := u.rdb.XAdd(ctx, &redis.XAddArgs{Stream: u.keys.Upstream(), MaxLen: upstreamMaxLen, Approx: true, Values: values}).Result()
	if err != nil {
		u.metrics.RedisErrors.WithLabelValues("upstream").Inc()
		return "", fmt.Errorf("streams: append upstream: %w", err)
	}
	return id, nil
}

// Publish appends a client's publish frame to the ingress stream as a push to topic
// whose from is the sender's user id.
func (u *Upstream) Publish(ctx context.Context, topic, from string, data []byte) (string, error) {
	if wire.ValidName(topic) != nil {
		return "", Rejection("bad topic name")
	}
	return u.publisher.Publish(ctx, Publication{Topic: topic, From: from, Data: data})
}
