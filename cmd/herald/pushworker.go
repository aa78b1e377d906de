package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/gateway/notify"
	"github.com/herald-push/herald/gateway/push"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

// Push-notification marks outlive a push by a day: longer than any retry or
// take-over of its event, short enough to cost nothing kept.
const (
	pushMarkTTL    = 24 * time.Hour
	pushRateWindow = time.Minute
)

// pushFallback is the node's push-notification fallback: its consumer of
// herald:undelivered and the worker. nil when push.enabled is off.
type pushFallback struct {
	events *streams.PushEvents
	worker *notify.Worker
}

// newPushFallback builds the fallback from the configuration; nil, nil when
// it is off.
func newPushFallback(cfg config.Config, rdb redis.UniversalClient, keys streams.Keys, reg prometheus.Registerer, log *slog.Logger) (*pushFallback, error) {
	pc := cfg.Push
	if !pc.Enabled {
		return nil, nil
	}
	sender, err := pushSenders(pc)
	if err != nil {
		return nil, err
	}
	events := streams.NewPushEvents(rdb, keys, cfg.Node.ID, cfg.Streams.DLQMaxLen)
	w := notify.New(notify.Config{
		Consumer: cfg.Node.ID, Grace: pc.Grace, TTL: pc.TTL,
		TitleField: pc.TitleField, BodyField: pc.BodyField, CollapseField: pc.CollapseField,
		Concurrency: pc.Concurrency, QueueSize: pc.QueueSize, MaxAttempts: pc.MaxAttempts,
		SendTimeout: pc.SendTimeout, ClaimIdle: pc.ClaimIdle,
	}, notify.Deps{
		Events:  events,
		Ledger:  streams.NewPushLedger(rdb, keys, pushMarkTTL, pc.RateLimit, pushRateWindow),
		Lookup:  streams.NewPushLookup(rdb, keys),
		Targets: streams.NewPushTargets(rdb, keys, pc.TargetTTL),
		Sender:  sender, Log: log, Metrics: notify.NewMetrics(reg),
	})
	return &pushFallback{events: events, worker: w}, nil
}

// pushSenders builds a Sender per configured platform, routed by target kind.
func pushSenders(pc config.Push) (*push.Senders, error) {
	byKind := map[string]push.Sender{}
	if wp := pc.WebPush; wp.Configured() {
		s, err := push.NewWebPush(push.WebPushConfig{VAPIDPublicKey: wp.VAPIDPublicKey, VAPIDPrivateKey: wp.VAPIDPrivateKey,
			Subject: wp.Subject, AllowHTTP: wp.AllowHTTP}, nil)
		if err != nil {
			return nil, fmt.Errorf("push.webpush: %w", err)
		}
		byKind[wire.KindWebPush] = s
	}
	if f := pc.FCM; f.Configured() {
		s, err := push.NewFCM(push.FCMConfig{CredentialsFile: f.CredentialsFile, Endpoint: f.Endpoint, TokenURL: f.TokenURL}, nil)
		if err != nil {
			return nil, fmt.Errorf("push.fcm: %w", err)
		}
		byKind[wire.KindFCM] = s
	}
	if a := pc.APNs; a.Configured() {
		s, err := push.NewAPNs(push.APNsConfig{KeyFile: a.KeyFile, KeyID: a.KeyID, TeamID: a.TeamID, Topic: a.Topic,
			Endpoint: a.Endpoint, CAFile: a.CAFile}, nil)
		if err != nil {
			return nil, fmt.Errorf("push.apns: %w", err)
		}
		byKind[wire.KindAPNs] = s
	}
	return push.NewSenders(byKind), nil
}

// Start creates the consumer group and runs the worker.
func (p *pushFallback) Start(ctx context.Context) error {
	if p == nil {
		return nil
	}
	if err := p.events.Start(ctx); err != nil {
		return err
	}
	p.worker.Start()
	return nil
}

// Stop ends the worker: sends in flight finish within ctx; the events it
// holds stay pending for the next run or another node.
func (p *pushFallback) Stop(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.worker.Stop(ctx)
}
