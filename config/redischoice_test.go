package config

import (
	"strings"
	"testing"
)

func TestRedisChoiceChecks(t *testing.T) {
	sec := "HERALD_AUTH__HMAC_SECRET=" + testSecret
	tests := []struct {
		name    string
		environ []string
		want    string // "" = valid
	}{
		{"sentinel", []string{sec, "HERALD_REDIS__SENTINEL__MASTER=m", "HERALD_REDIS__SENTINEL__ADDRS=a:1,b:2", "HERALD_REDIS__WAIT_REPLICAS=1"}, ""},
		{"sentinel without addrs", []string{sec, "HERALD_REDIS__SENTINEL__MASTER=m"}, "redis.sentinel.addrs: required"},
		{"sentinel and addr", []string{sec, "HERALD_REDIS__SENTINEL__MASTER=m", "HERALD_REDIS__SENTINEL__ADDRS=a:1", "HERALD_REDIS__ADDR=r:1"}, "not several"},
		{"sentinel addrs alone", []string{sec, "HERALD_REDIS__SENTINEL__ADDRS=a:1"}, "set redis.sentinel.master too"},
		{"sentinel without secret", []string{"HERALD_REDIS__SENTINEL__MASTER=m", "HERALD_REDIS__SENTINEL__ADDRS=a:1"}, "auth.hmac_secret is required"},
		{"wait embedded", []string{"HERALD_REDIS__WAIT_REPLICAS=1"}, "embedded store has no replicas"},
		{"wait standalone", []string{sec, "HERALD_REDIS__ADDR=r:1", "HERALD_REDIS__WAIT_REPLICAS=2", "HERALD_REDIS__WAIT_TIMEOUT=250ms"}, ""},
		{"wait timeout zero", []string{sec, "HERALD_REDIS__ADDR=r:1", "HERALD_REDIS__WAIT_TIMEOUT=0s"}, "redis.wait_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(nil, tt.environ)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.Embedded() {
					t.Error("Embedded() with a Redis configured")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one with %q", err, tt.want)
			}
		})
	}
}
