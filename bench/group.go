package bench

import (
	"context"
)

// Modes of a client group: how a received push is accounted for.
const (
	modeUnicast   = "unicast"   // message n goes to user n % Total
	modeBroadcast = "broadcast" // message n goes to every subscriber of the topic
	modeIdle      = "idle"      // nothing is expected
)

// GroupSpec says which clients a group opens. A group runs in the bench process or
// in a worker process (`herald bench internal-worker`), which gets it as JSON.
type GroupSpec struct {
	URLs       []string `json:"urls"`  // the nodes' WebSocket URLs
	First      int      `json:"first"` // index of the group's first client among all clients
	Count      int      `json:"count"`
	Total      int      `json:"total"` // clients over all groups
	UserPrefix string   `json:"user_prefix"`
	Mode       string   `json:"mode"`
	Secret     string   `json:"secret"`
	SourceIPs  []string `json:"source_ips"` // local addresses, round robin by client index
	// PingNs is the client's ping interval (0: the client's default, 15 s).
	PingNs int64 `json:"ping_ns"`
	// DialTimeoutNs bounds one client's Dial (every attempt until the welcome).
	DialTimeoutNs int64 `json:"dial_timeout_ns"`
	// Failover: client i tries URLs[(First+i) % len] first, then the others.
	Failover bool `json:"failover"`
}

// Tick is a group's counters (cumulative) and the latencies recorded since the
// previous tick.
type Tick struct {
	At           int64  `json:"at"`
	Connected    int64  `json:"connected"`
	Warmed       int64  `json:"warmed"`   // clients that received a warm-up message
	Distinct     int64  `json:"distinct"` // measured deliveries, each (client, message) once
	Dup          int64  `json:"dup"`
	Misrouted    int64  `json:"misrouted"` // pushes for another user
	Bad          int64  `json:"bad"`       // payloads that did not parse
	Reconnects   int64  `json:"reconnects"`
	LastUp       int64  `json:"last_up"`   // unix ns of the newest reconnection's welcome
	LastDown     int64  `json:"last_down"` // unix ns of the newest disconnect
	Down         int64  `json:"down"`      // clients between connections now
	ErrFrames    int64  `json:"err_frames"`
	NotSupported int64  `json:"not_supported"`
	LastError    string `json:"last_error,omitempty"`
	LastDelivery int64  `json:"last_delivery"` // unix ns
	Interval     string `json:"interval,omitempty"`
}

// Final is a group's end state: a tick plus the whole run's histograms.
type Final struct {
	Tick
	Latency   string `json:"latency"`
	Reconnect string `json:"reconnect"`
}

// ConnectResult is how opening a group's clients went.
type ConnectResult struct {
	Connected  int    `json:"connected"`
	Failed     int    `json:"failed"`
	FirstError string `json:"first_error,omitempty"`
	Handshake  string `json:"handshake"` // histogram, µs: Dial to welcome
	Start      int64  `json:"start"`
	End        int64  `json:"end"`
}

// group is a set of clients, in this process or in a worker process.
type group interface {
	Connect(ctx context.Context, concurrency int) (ConnectResult, error)
	Subscribe(topic string) error
	Tick() (Tick, error)
	Final() (Final, error)
	Delivered() int64 // measured deliveries so far; cheap, for the publisher's window
	Close() error
}
