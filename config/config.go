package config

import (
	"slices"
	"time"
)

// Config is the whole configuration of one Herald process.
type Config struct {
	Server    Server    `koanf:"server"`
	Node      Node      `koanf:"node"`
	Redis     Redis     `koanf:"redis"`
	Auth      Auth      `koanf:"auth"`
	Publish   Publish   `koanf:"publish"`
	History   History   `koanf:"history"`
	Limits    Limits    `koanf:"limits"`
	Streams   Streams   `koanf:"streams"`
	Gateway   Gateway   `koanf:"gateway"`
	Directory Directory `koanf:"directory"`
	Topics    Topics    `koanf:"topics"`
	Upstream  Upstream  `koanf:"upstream"`
	Cluster   Cluster   `koanf:"cluster"`
	Presence  Presence  `koanf:"presence"`
	Delivery  Delivery  `koanf:"delivery"`
	Push      Push      `koanf:"push"`
	Shutdown  Shutdown  `koanf:"shutdown"`
	Log       Log       `koanf:"log"`
	Memory    Memory    `koanf:"memory"`
	API       API       `koanf:"api"`
	Debug     Debug     `koanf:"debug"`
}

// API tunes the server API (/v1/disconnect, /v1/revoke, ...) and its control stream.
type API struct {
	// MaxTokenLifetime is the longest a token lives (exp - iat): a revocation is
	// kept that long, until the tokens it names have expired.
	MaxTokenLifetime time.Duration `koanf:"max_token_lifetime"`
	ControlMaxLen    int           `koanf:"control_max_len"` // approximate MAXLEN of herald:ctl
}

// Memory tunes how the process gives memory back.
type Memory struct {
	// IdleTrim is how long the node must be quiet before it returns its free heap
	// memory to the OS; 0 leaves that to the Go runtime.
	IdleTrim time.Duration `koanf:"idle_trim"`
}

// Debug holds operator tools that are off by default.
type Debug struct {
	PprofAddr string `koanf:"pprof_addr"` // "" = off; else net/http/pprof on this address (keep it private)
}

// Topics is the topic policy: patterns of topic names, "{user}" standing for the
// user's id and "*" for any run of characters.
type Topics struct {
	Subscribe []string `koanf:"subscribe"` // who may subscribe to what
	Publish   []string `koanf:"publish"`   // who may publish from a client (publish frames)
}

// Upstream tunes client send and publish frames.
type Upstream struct {
	RefWindow time.Duration `koanf:"ref_window"` // a resent ref within this is answered, not stored again
}

// Cluster is how nodes learn about each other.
type Cluster struct {
	NodeTTL time.Duration `koanf:"node_ttl"` // a node silent this long is declared dead
}

// Presence tunes the online/offline events of herald:presence.
type Presence struct {
	Debounce time.Duration `koanf:"debounce"` // a user back within this is not offline
}

// Delivery tunes what happens to pushes no device acknowledged.
type Delivery struct {
	AckTimeout time.Duration `koanf:"ack_timeout"` // 0: off; else unacked user pushes go to herald:undelivered
}

// Push is the push-notification fallback (docs/PROTOCOL.md section 9): the
// targets devices register.
type Push struct {
	TargetTTL time.Duration `koanf:"target_ttl"` // a user's targets outlive their last registration by this
	WebPush   PushWebPush   `koanf:"webpush"`
	// The fallback worker (config/push.go): it notifies a user's targets of
	// pushes no device acknowledged in time.
	Enabled       bool          `koanf:"enabled"`
	Grace         time.Duration `koanf:"grace"`          // wait after the undelivered event
	TTL           time.Duration `koanf:"ttl"`            // the platforms' time to live
	RateLimit     int           `koanf:"rate_limit"`     // pushes per user per minute; 0 = none
	TitleField    string        `koanf:"title_field"`    // data field shown as the title
	BodyField     string        `koanf:"body_field"`     // data field shown as the body
	CollapseField string        `koanf:"collapse_field"` // data field used as collapse key; "" = push id
	Concurrency   int           `koanf:"concurrency"`
	QueueSize     int           `koanf:"queue_size"`
	MaxAttempts   int           `koanf:"max_attempts"`
	ClaimIdle     time.Duration `koanf:"claim_idle"`
	SendTimeout   time.Duration `koanf:"send_timeout"`
	FCM           PushFCM       `koanf:"fcm"`
	APNs          PushAPNs      `koanf:"apns"`
}

// PushWebPush is the Web Push provider's settings.
type PushWebPush struct {
	AllowHTTP bool `koanf:"allow_http"` // accept http:// endpoints (tests); https:// only otherwise
	// The VAPID identity (RFC 8292) Herald signs Web Push requests with.
	VAPIDPublicKey  string `koanf:"vapid_public_key"`
	VAPIDPrivateKey string `koanf:"vapid_private_key"`
	Subject         string `koanf:"subject"`
}

// Server is the HTTP and WebSocket listener.
type Server struct {
	Addr string `koanf:"addr"`
}

// Node identifies this process among the nodes sharing one Redis.
type Node struct {
	ID string `koanf:"id"` // Load fills a host name plus a random suffix when empty
}

// Redis selects the store: empty Addr and Addrs mean the embedded one.
type Redis struct {
	Addr     string   `koanf:"addr"`
	Addrs    []string `koanf:"addrs"`
	Prefix   string   `koanf:"prefix"`
	Username string   `koanf:"username"`
	Password string   `koanf:"password"`
	TLS      bool     `koanf:"tls"`
	TLSCA    string   `koanf:"tls_ca_file"` // PEM CA bundle to verify Redis with; "" = system roots
	// AllowEviction starts the node under an evicting maxmemory-policy anyway.
	AllowEviction bool     `koanf:"allow_eviction"`
	Sentinel      Sentinel `koanf:"sentinel"`
	// WaitReplicas > 0: WAIT for that many replicas before acknowledging an
	// ingress entry or answering a publish (asynchronous replication loses
	// writes a failed master acknowledged otherwise).
	WaitReplicas int           `koanf:"wait_replicas"`
	WaitTimeout  time.Duration `koanf:"wait_timeout"`
}

// Sentinel selects a Sentinel-managed master instead of redis.addr.
type Sentinel struct {
	Master   string   `koanf:"master"`
	Addrs    []string `koanf:"addrs"`
	Username string   `koanf:"username"`
	Password string   `koanf:"password"`
}

// Auth configures token verification and the WebSocket origin check. The flat
// keys (HMACSecret, JWKSURL, PublicKeys, with Issuer and Audience) are one
// issuer; Issuers adds more.
type Auth struct {
	HMACSecret     string        `koanf:"hmac_secret"`
	AllowedOrigins []string      `koanf:"allowed_origins"` // empty = any origin
	JWKSURL        string        `koanf:"jwks_url"`
	PublicKeys     []string      `koanf:"public_keys"`
	Issuer         string        `koanf:"issuer"`
	Audience       []string      `koanf:"audience"`
	Issuers        []Issuer      `koanf:"issuers"`
	Leeway         time.Duration `koanf:"leeway"`
	// JWKSRefresh > 0 refetches every JWKS this often instead of on its max-age.
	JWKSRefresh         time.Duration `koanf:"jwks_refresh"`
	JWKSRefetchInterval time.Duration `koanf:"jwks_refetch_interval"`
}

// Publish configures the HTTP publish endpoint.
type Publish struct {
	APIKey string `koanf:"api_key"` // empty = /v1/publish off
}

// History bounds what is kept per recipient for resume.
type History struct {
	Size int           `koanf:"size"`
	TTL  time.Duration `koanf:"ttl"`
	// Topics are per-topic exceptions, "PATTERN=SIZE[/TTL]" (TopicRules parses
	// them); size 0 is a live-only topic.
	Topics []string `koanf:"topics"`
}

// Limits protects a node from one client.
type Limits struct {
	MaxPendingBytes    int `koanf:"max_pending_bytes"`
	MaxPayloadBytes    int `koanf:"max_payload_bytes"`
	MaxFrameBytes      int `koanf:"max_frame_bytes"`
	MaxSessionsPerUser int `koanf:"max_sessions_per_user"`
	MaxSubscriptions   int `koanf:"max_subscriptions"`
	UpstreamPerSecond  int `koanf:"upstream_per_second"`
	FramesPerSecond    int `koanf:"frames_per_second"`
	HandshakesPerIP    int `koanf:"handshakes_per_second"` // 0 = no limit
}

// Streams tunes the Redis Streams consumers.
type Streams struct {
	Partitions    int           `koanf:"partitions"`
	ReadCount     int           `koanf:"read_count"`
	Block         time.Duration `koanf:"block"`
	ClaimIdle     time.Duration `koanf:"claim_idle"`
	MaxDeliveries int           `koanf:"max_deliveries"`
	LeaseTTL      time.Duration `koanf:"lease_ttl"`
	InboxMaxLen   int           `koanf:"inbox_max_len"`
	DLQMaxLen     int           `koanf:"dlq_max_len"`
}

// Gateway tunes WebSocket sessions.
type Gateway struct {
	WriteTimeout     time.Duration `koanf:"write_timeout"`
	HandshakeTimeout time.Duration `koanf:"handshake_timeout"`
	PingTimeout      time.Duration `koanf:"ping_timeout"`
	ReadBufferSize   int           `koanf:"read_buffer_size"`
}

// Directory sizes the session directory.
type Directory struct {
	Shards int `koanf:"shards"` // Load turns 0 into GOMAXPROCS*4
}

// Shutdown bounds the drain on SIGTERM.
type Shutdown struct {
	Timeout time.Duration `koanf:"timeout"`
}

// Log selects the log output.
type Log struct {
	Level  string `koanf:"level"`
	Format string `koanf:"format"`
}

// mask replaces a secret in output meant for people.
const mask = "****"

// Embedded reports whether no Redis is configured, so the process runs on
// its in-process store.
func (c Config) Embedded() bool {
	return c.Redis.Addr == "" && len(c.Redis.Addrs) == 0 && c.Redis.Sentinel.Master == ""
}

// Masked returns a copy that is safe to print or log: every secret that is
// set reads "****". Slices are copied so the result shares no memory with c.
func (c Config) Masked() Config {
	c.Redis.Addrs = slices.Clone(c.Redis.Addrs)
	c.Auth.AllowedOrigins = slices.Clone(c.Auth.AllowedOrigins)
	c.Auth.PublicKeys = slices.Clone(c.Auth.PublicKeys)
	c.Auth.Audience = slices.Clone(c.Auth.Audience)
	c.Auth.Issuers = slices.Clone(c.Auth.Issuers)
	c.Auth.HMACSecret = maskString(c.Auth.HMACSecret)
	c.Publish.APIKey = maskString(c.Publish.APIKey)
	c.Redis.Password = maskString(c.Redis.Password)
	c.Redis.Sentinel.Addrs = slices.Clone(c.Redis.Sentinel.Addrs)
	c.Redis.Sentinel.Password = maskString(c.Redis.Sentinel.Password)
	c.Push.WebPush.VAPIDPrivateKey = maskString(c.Push.WebPush.VAPIDPrivateKey)
	return c
}

func maskString(s string) string {
	if s == "" {
		return ""
	}
	return mask
}
