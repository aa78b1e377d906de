package streams

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Publication is one publish request, as a service would XADD it (docs/PROTOCOL.md section 1).
type Publication struct {
	To    string
	Topic string
	Data  []byte // JSON
	ID    string
	From  string
	TTL   int64 // seconds, 0 = none
}

func (p Publication) fields() map[string]any {
	f := map[string]any{fieldData: string(p.Data)}
	for k, v := range map[string]string{fieldTo: p.To, fieldTopic: p.Topic, fieldID: p.ID, fieldFrom: p.From} {
		if v != "" {
			f[k] = v
		}
	}
	if p.TTL != 0 {
		f[fieldTTL] = strconv.FormatInt(p.TTL, 10)
	}
	return f
}

// Publisher appends publications to the ingress stream, for POST /v1/publish and
// `herald publish`.
type Publisher struct {
	rdb        redis.UniversalClient
	keys       Keys
	maxPayload int
	metrics    *Metrics
	wait       replicaWait
}

// WaitReplicas makes Publish confirm each append on n replicas (WAIT, at most
// timeout) before it reports success: an answer of 202 then survives a failover
// to one of them. 0 turns it off.
func (pb *Publisher) WaitReplicas(n int, timeout time.Duration) {
	pb.wait = newReplicaWait(pb.rdb, n, timeout)
}

// NewPublisher returns a publisher; maxPayload is limits.max_payload_bytes.
func NewPublisher(rdb redis.UniversalClient, keys Keys, maxPayload int, m *Metrics) *Publisher {
	return &Publisher{rdb: rdb, keys: keys, maxPayload: maxPayload, metrics: m}
}

// Publish validates p with exactly the rules the router applies (a Rejection error
// when it breaks one, and nothing is written) and appends it; it returns the entry id.
func (pb *Publisher) Publish(ctx context.Context, p Publication) (string, error) {
	fields := p.fields()
	push, err := ParseIngress("0-1", fields, pb.maxPayload)
	if err != nil {
		return "", err
	}
	values := make([]any, 0, 2*len(fields))
	for k, v := range fields {
		values = append(values, k, v)
	}
	args := &redis.XAddArgs{Stream: pb.keys.IngressFor(push.Recipient), Values: values}
	if pb.wait.n > 0 {
		return pb.publishWaiting(ctx, args)
	}
	id, err := pb.rdb.XAdd(ctx, args).Result()
	if err != nil {
		if pb.metrics != nil {
			pb.metrics.RedisErrors.WithLabelValues("publish").Inc()
		}
		return "", fmt.Errorf("streams: publish: %w", err)
	}
	return id, nil
}

// publishWaiting appends and WAITs in one pipeline, hence on one connection, so
// the WAIT covers the append. A short WAIT is an error wrapping ErrNotReplicated:
// the entry is in the stream and will be routed, but it is not reported as
// accepted (the caller may publish it again; the router may deliver both).
func (pb *Publisher) publishWaiting(ctx context.Context, args *redis.XAddArgs) (string, error) {
	pipe := pb.rdb.Pipeline()
	add := pipe.XAdd(ctx, args)
	wait := pb.wait.queue(ctx, pipe)
	_, _ = pipe.Exec(ctx) // replies are checked one by one
	id, err := add.Result()
	if err == nil {
		err = pb.wait.done(ctx, wait)
		if err != nil && pb.metrics != nil && errors.Is(err, ErrNotReplicated) {
			pb.metrics.WaitShort.WithLabelValues("publish").Inc()
			return "", fmt.Errorf("streams: publish: %w", err)
		}
	}
	if err != nil {
		if pb.metrics != nil {
			pb.metrics.RedisErrors.WithLabelValues("publish").Inc()
		}
		return "", fmt.Errorf("streams: publish: %w", err)
	}
	return id, nil
}
