package config

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// keyDef is one configuration key. The table below is the single source for
// defaults, flags, environment names, help text and per-key validation, so a
// key cannot exist in one of them and be missing from another.
type keyDef struct {
	name   string // dotted koanf path, equal to the struct tags
	def    any    // typed default; its Go type is the key's type
	help   string
	secret bool
	check  func(v any) error // runs on the final, typed value; nil = any value
}

// keyTable is immutable after init; the order is the order of --help and Keys.
var keyTable = []keyDef{
	{name: "server.addr", def: ":8080", help: "HTTP and WebSocket listen address (host:port)", check: hostPort},
	{name: "node.id", def: "", help: "node id, unique among the nodes sharing one Redis (default: host name plus a random suffix)", check: nodeID},
	{name: "redis.addr", def: "", help: "Redis address (host:port); empty with empty redis.addrs runs the embedded store", check: optional(hostPort)},
	{name: "redis.addrs", def: []string(nil), help: "Redis Cluster seed addresses, comma-separated", check: each(hostPort)},
	{name: "redis.prefix", def: "herald", help: "prefix of every Redis key", check: redisPrefix},
	{name: "redis.username", def: "", help: "Redis ACL user name"},
	{name: "redis.password", def: "", help: "Redis password", secret: true},
	{name: "redis.tls", def: false, help: "connect to Redis over TLS"},
	{name: "redis.allow_eviction", def: false, help: "start even though Redis's maxmemory-policy is not noeviction, accepting that a full Redis may delete history, consumer groups and presence (pushes then vanish without an error)"},
	{name: "redis.tls_ca_file", def: "", help: "PEM file of the CA that signed Redis's certificate (empty: the system's roots)"},
	{name: "redis.sentinel.master", def: "", help: "Sentinel master name: connect to the master the Sentinels at redis.sentinel.addrs name, following failovers (set instead of redis.addr)"},
	{name: "redis.sentinel.addrs", def: []string(nil), help: "Sentinel addresses, comma-separated", check: each(hostPort)},
	{name: "redis.sentinel.username", def: "", help: "ACL user name for the Sentinels themselves (empty: none)"},
	{name: "redis.sentinel.password", def: "", help: "password for the Sentinels themselves (empty: none)", secret: true},
	{name: "redis.wait_replicas", def: 0, help: "replicas that must confirm (WAIT) a push's writes before its ingress entry is acknowledged and before POST /v1/publish answers 202 (0: do not wait)", check: intRange(0, 100)},
	{name: "redis.wait_timeout", def: time.Second, help: "how long one WAIT for redis.wait_replicas replicas may block", check: durRange(time.Millisecond, time.Minute)},
	{name: "auth.hmac_secret", def: "", help: "HS256 token secret, at least 16 bytes; outside the embedded mode it, auth.jwks_url, auth.public_keys or auth.issuers is required", secret: true},
	{name: "auth.allowed_origins", def: []string(nil), help: "allowed WebSocket Origin values, comma-separated (empty: any)"},
	{name: "auth.jwks_url", def: "", help: "JWKS URL of the token issuer: RS256, ES256 and EdDSA keys chosen by the token's kid, cached and refreshed (empty: none)", check: optional(httpURL)},
	{name: "auth.public_keys", def: []string(nil), help: "PEM public key files (PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE blocks), comma-separated; kid=path names the file's keys' kid"},
	{name: "auth.issuer", def: "", help: "iss that tokens verified with auth.hmac_secret, auth.jwks_url or auth.public_keys must carry (empty: not checked)"},
	{name: "auth.audience", def: []string(nil), help: "aud values, comma-separated, one of which those tokens must carry (empty: not checked)"},
	{name: "auth.issuers", def: []Issuer(nil), check: issuersCheck, help: "more issuers, each token tried by its iss: a YAML list of {issuer, audience, jwks_url, public_keys}, or that list as JSON in the environment or flag"},
	{name: "auth.leeway", def: 5 * time.Second, help: "clock skew tolerated on a token's exp, nbf and iat", check: durRange(0, 10*time.Minute)},
	{name: "auth.jwks_refresh", def: time.Duration(0), help: "how often a JWKS is fetched again (0: as its Cache-Control max-age says, within 1m..24h; 15m without one)", check: zeroOr(durRange(100*time.Millisecond, 24*time.Hour))},
	{name: "auth.jwks_refetch_interval", def: 10 * time.Second, help: "least time between two JWKS fetches asked for by tokens naming an unknown kid", check: durRange(100*time.Millisecond, time.Hour)},
	{name: "publish.api_key", def: "", help: "API key of POST /v1/publish (empty: endpoint off; in the embedded mode, a dev key answering loopback clients only)", secret: true},
	{name: "history.size", def: 1000, help: "history entries kept per recipient", check: intMin(1)},
	{name: "history.ttl", def: 24 * time.Hour, help: "how long an idle recipient's history is kept", check: durMin(1)},
	{name: "history.topics", def: []string(nil), help: "other histories for some topics: PATTERN=SIZE or PATTERN=SIZE/TTL, comma-separated, the first match wins; SIZE 0 keeps none (live only: no stream, no resume)", check: each(topicHistory)},
	{name: "limits.max_pending_bytes", def: 1048576, help: "bytes queued to one session before it is closed as too slow", check: intMin(1024)},
	{name: "limits.max_payload_bytes", def: 65536, help: "largest published payload in bytes", check: intMin(1)},
	{name: "limits.max_frame_bytes", def: 131072, help: "largest client-to-server WebSocket frame in bytes", check: intMin(256)},
	{name: "limits.max_sessions_per_user", def: 0, help: "open sessions per user across the cluster; one more is closed with 4009 (0: no limit)", check: intMin(0)},
	{name: "limits.max_subscriptions", def: 100, help: "topic subscriptions per session (the token's topics count too; one more subscribe frame is refused)", check: intMin(1)},
	{name: "limits.frames_per_second", def: 100, help: "client frames per session per second; over it an error, then close 4003", check: intMin(1)},
	{name: "limits.handshakes_per_second", def: 0, help: "WebSocket handshakes per second from one source address, over it HTTP 429 (0: off; behind a proxy every client has the proxy's address, so limit there)", check: intMin(0)},
	{name: "limits.upstream_per_second", def: 50, help: "send and publish frames per session per second; over it an error, then close 4003", check: intMin(1)},
	{name: "upstream.ref_window", def: 2 * time.Minute, help: "a send or publish resent with the same ref within this is answered with the first entry id, not stored again", check: durMin(time.Second)},
	{name: "topics.subscribe", def: []string{"*"}, help: "topics users may subscribe to: patterns with * and {user}, comma-separated (the token's topics claim grants more)", check: each(topicPattern)},
	{name: "topics.publish", def: []string(nil), help: "topics users may publish on from a client: patterns with * and {user} (empty: none)", check: each(topicPattern)},
	{name: "streams.partitions", def: 1, help: "ingress stream partitions", check: intRange(1, 1024)},
	{name: "streams.read_count", def: 500, help: "entries per XREADGROUP (COUNT)", check: intRange(1, 10000)},
	{name: "streams.block", def: time.Second, help: "XREADGROUP BLOCK time", check: durRange(10*time.Millisecond, 10*time.Second)},
	{name: "streams.claim_idle", def: 10 * time.Second, help: "idle time after which a pending entry is reclaimed", check: durMin(1)},
	{name: "streams.max_deliveries", def: 5, help: "deliveries before an entry goes to the dead-letter stream", check: intMin(1)},
	{name: "streams.lease_ttl", def: 5 * time.Second, help: "lifetime of a node's partition lease", check: durMin(100 * time.Millisecond)},
	{name: "streams.inbox_max_len", def: 1000000, help: "backlog of a node inbox (entries) over which the node closes its sessions so that they resume from history; inboxes are never trimmed unread", check: intMin(1000)},
	{name: "streams.dlq_max_len", def: 100000, help: "approximate MAXLEN of the dead-letter stream", check: intMin(100)},
	{name: "gateway.write_timeout", def: 5 * time.Second, help: "deadline of one WebSocket write", check: durMin(1)},
	{name: "gateway.handshake_timeout", def: 10 * time.Second, help: "deadline of the HTTP request and WebSocket upgrade", check: durMin(1)},
	{name: "gateway.ping_timeout", def: 60 * time.Second, help: "a session that sends nothing, not even a ping, for this long is closed", check: durMin(1)},
	{name: "gateway.read_buffer_size", def: 128, help: "per-connection read buffer in bytes (frames larger than it are read straight into their own buffer)", check: intMin(64)},
	{name: "cluster.node_ttl", def: 15 * time.Second, help: "a node that has not heartbeated for this long is declared dead and cleaned up", check: durMin(time.Second)},
	{name: "presence.debounce", def: 5 * time.Second, help: "a user whose last session closed is announced offline only if not back within this", check: durMin(0)},
	{name: "delivery.ack_timeout", def: time.Duration(0), help: "user pushes no device acked within this go to herald:undelivered (0: off)", check: durMin(0)},
	{name: "push.enabled", def: false, help: "run the push-notification fallback worker on this node: pushes in herald:undelivered reach the user's registered targets (needs delivery.ack_timeout and a provider)"},
	{name: "push.grace", def: time.Duration(0), help: "wait after the undelivered event before notifying; an ack from any session of the user meanwhile cancels the notification", check: durRange(0, time.Hour)},
	{name: "push.ttl", def: time.Hour, help: "how long a platform keeps a notification for an offline device (shorter when the push's own ttl ends sooner)", check: durRange(0, 28*24*time.Hour)},
	{name: "push.rate_limit", def: 30, help: "pushes per user per minute notified; more are skipped and counted (0: no limit)", check: intMin(0)},
	{name: "push.title_field", def: "", help: "top-level field of a push's data that becomes the notification's title (empty or missing: no visible alert, data only)"},
	{name: "push.body_field", def: "", help: "top-level field of a push's data that becomes the notification's body"},
	{name: "push.collapse_field", def: "", help: "top-level field of a push's data whose value is the collapse key, a newer notification replacing an older one (empty or missing: the push id)"},
	{name: "push.concurrency", def: 8, help: "pushes notified at once by this node (each to its targets in turn)", check: intRange(1, 1024)},
	{name: "push.queue_size", def: 1000, help: "undelivered events this node holds (waiting for push.grace or a retry); at the bound it stops reading, the rest wait in Redis", check: intRange(1, 1000000)},
	{name: "push.max_attempts", def: 5, help: "sends of one notification a platform may refuse for now (429, 5xx) before it is given up and dead-lettered", check: intRange(1, 100)},
	{name: "push.claim_idle", def: time.Minute, help: "an event another node held this long without touching it (the node died) is taken over", check: durRange(time.Second, time.Hour)},
	{name: "push.send_timeout", def: 15 * time.Second, help: "deadline of one send to a platform", check: durRange(100*time.Millisecond, 5*time.Minute)},
	{name: "push.webpush.vapid_public_key", def: "", help: "Web Push VAPID public key (base64url, uncompressed P-256 point); the browser's applicationServerKey"},
	{name: "push.webpush.vapid_private_key", def: "", help: "Web Push VAPID private key (base64url, P-256 scalar)", secret: true},
	{name: "push.webpush.subject", def: "", help: "VAPID subject: a mailto: or https: URL a push service can contact you at"},
	{name: "push.fcm.credentials_file", def: "", help: "FCM service-account JSON file (turns FCM on)"},
	{name: "push.fcm.endpoint", def: "https://fcm.googleapis.com", help: "FCM HTTP v1 base URL"},
	{name: "push.fcm.token_url", def: "", help: "OAuth2 token URL for FCM (empty: the service account's token_uri, else Google's)"},
	{name: "push.apns.key_file", def: "", help: "APNs token-auth key (.p8 file; turns APNs on)"},
	{name: "push.apns.key_id", def: "", help: "APNs key id (10 characters, from the Apple developer account)"},
	{name: "push.apns.team_id", def: "", help: "Apple developer team id"},
	{name: "push.apns.topic", def: "", help: "APNs topic: the app's bundle id"},
	{name: "push.apns.endpoint", def: "https://api.push.apple.com", help: "APNs base URL (https://api.sandbox.push.apple.com for development builds)"},
	{name: "push.apns.ca_file", def: "", help: "PEM file of extra roots to verify the APNs endpoint with (tests, TLS-inspecting proxies; empty: the system's roots)"},
	{name: "directory.shards", def: 0, help: "session directory shards (0: GOMAXPROCS*4)", check: intMin(0)},
	{name: "push.target_ttl", def: 60 * 24 * time.Hour, help: "how long a user's push targets are kept after the user's last registration (register frame or POST /v1/push/targets)", check: durMin(time.Minute)},
	{name: "push.webpush.allow_http", def: false, help: "accept http:// Web Push endpoints (tests on loopback); https:// only otherwise"},
	{name: "shutdown.timeout", def: 30 * time.Second, help: "drain deadline on SIGTERM", check: durMin(1)},
	{name: "log.level", def: "info", help: "log level: debug (adds a line per session opened or closed and per refused handshake), info, warn or error", check: oneOf("debug", "info", "warn", "error")},
	{name: "api.max_token_lifetime", def: 24 * time.Hour, help: "the longest a token lives (exp - iat): a revocation (POST /v1/revoke) is kept this long, until every token it names has expired; a token living longer is accepted again after it", check: durMin(time.Minute)},
	{name: "api.control_max_len", def: 10000, help: "approximate MAXLEN of the control stream (herald:ctl); a node that starts reads all of it", check: intRange(100, 1000000)},
	{name: "memory.idle_trim", def: 10 * time.Second, help: "return the heap's free memory to the OS at the end of every such interval without pushes or session changes (0: leave it to the Go runtime)", check: durMin(0)},
	{name: "debug.pprof_addr", def: "", help: "serve net/http/pprof on this address, e.g. 127.0.0.1:6060 (empty: off; never expose it)", check: optional(hostPort)},
	{name: "log.format", def: "text", help: "log format: text (key=value lines) or json (one object per line)", check: oneOf("text", "json")},
}

// KeyInfo describes one configuration key for docs and `herald config --keys`.
type KeyInfo struct {
	Name    string // koanf path, e.g. "history.ttl"
	Type    string // string, int, bool, duration or list
	Default string // as it would be written in YAML; "" for none
	Env     string // e.g. "HERALD_HISTORY__TTL"
	Flag    string // e.g. "--history.ttl"
	Help    string
	Secret  bool
}

// Keys lists every configuration key in table order.
func Keys() []KeyInfo {
	out := make([]KeyInfo, 0, len(keyTable))
	for _, d := range keyTable {
		out = append(out, KeyInfo{
			Name:    d.name,
			Type:    typeName(d.def),
			Default: formatValue(d.def),
			Env:     envName(d.name),
			Flag:    "--" + d.name,
			Help:    d.help,
			Secret:  d.secret,
		})
	}
	return out
}

// envPrefix starts every environment variable this package reads.
const envPrefix = "HERALD_"

// envName maps "limits.max_pending_bytes" to HERALD_LIMITS__MAX_PENDING_BYTES:
// a double underscore nests because single ones occur inside key names.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "__"))
}

// keyNames lists every key's name, in table order.
func keyNames() []string {
	out := make([]string, len(keyTable))
	for i, d := range keyTable {
		out[i] = d.name
	}
	return out
}

func lookupKey(name string) (keyDef, bool) {
	for _, d := range keyTable {
		if d.name == name {
			return d, true
		}
	}
	return keyDef{}, false
}

// isSection reports whether name is a parent of some key, like "redis".
func isSection(name string) bool {
	for _, d := range keyTable {
		if strings.HasPrefix(d.name, name+".") {
			return true
		}
	}
	return false
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int:
		return "int"
	case bool:
		return "bool"
	case time.Duration:
		return "duration"
	case []string:
		return "list"
	case []Issuer:
		return "list of issuers"
	}
	panic(fmt.Sprintf("config: key table holds unsupported type %T", v))
}

// formatValue renders a typed value the way a person would write it.
func formatValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	case time.Duration:
		return formatDuration(x)
	case []string:
		return strings.Join(x, ",")
	case []Issuer:
		if len(x) == 0 {
			return ""
		}
		b, _ := json.Marshal(issuersYAML(x))
		return string(b)
	}
	return fmt.Sprint(v)
}

// formatDuration drops the zero tails of time.Duration.String, so 24h reads
// "24h" rather than "24h0m0s"; the result still parses with ParseDuration.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Checks. Each receives a value already coerced to its key's type.

func intMin(lo int) func(any) error {
	return func(v any) error {
		if n := v.(int); n < lo {
			return fmt.Errorf("%d is below the minimum %d", n, lo)
		}
		return nil
	}
}

func intRange(lo, hi int) func(any) error {
	return func(v any) error {
		if n := v.(int); n < lo || n > hi {
			return fmt.Errorf("%d is outside %d..%d", n, lo, hi)
		}
		return nil
	}
}

func durMin(lo time.Duration) func(any) error {
	return func(v any) error {
		if d := v.(time.Duration); d < lo {
			if lo == 1 {
				return fmt.Errorf("%s must be positive", formatDuration(d))
			}
			return fmt.Errorf("%s is below the minimum %s", formatDuration(d), formatDuration(lo))
		}
		return nil
	}
}

func durRange(lo, hi time.Duration) func(any) error {
	return func(v any) error {
		if d := v.(time.Duration); d < lo || d > hi {
			return fmt.Errorf("%s is outside %s..%s", formatDuration(d), formatDuration(lo), formatDuration(hi))
		}
		return nil
	}
}

func oneOf(allowed ...string) func(any) error {
	return func(v any) error {
		s := v.(string)
		for _, a := range allowed {
			if s == a {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", s, strings.Join(allowed, ", "))
	}
}

// zeroOr accepts a zero duration (off, or automatic) besides what check accepts.
func zeroOr(check func(any) error) func(any) error {
	return func(v any) error {
		if v.(time.Duration) == 0 {
			return nil
		}
		return check(v)
	}
}

func optional(check func(any) error) func(any) error {
	return func(v any) error {
		if v.(string) == "" {
			return nil
		}
		return check(v)
	}
}

func each(check func(any) error) func(any) error {
	return func(v any) error {
		for _, s := range v.([]string) {
			if err := check(s); err != nil {
				return err
			}
		}
		return nil
	}
}

// hostPort accepts what net.Listen and net.Dial accept with a numeric port;
// an empty host means all interfaces (listen) or localhost (dial).
func hostPort(v any) error {
	s := v.(string)
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has no numeric port 0..65535", s)
	}
	return nil
}

// nodeID keeps ids safe inside Redis keys, log lines and consumer names.
func nodeID(v any) error {
	s := v.(string)
	if s == "" {
		return nil // Load generates one
	}
	if len(s) > 64 {
		return fmt.Errorf("%d bytes is longer than 64", len(s))
	}
	if strings.IndexFunc(s, func(r rune) bool { return !nodeIDRune(r) }) >= 0 {
		return fmt.Errorf("%q has a character outside [A-Za-z0-9_.-]", s)
	}
	return nil
}

func nodeIDRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '_' || r == '.' || r == '-'
}

// redisPrefix refuses braces because keys carry their own {hash tags}, and a
// brace in the prefix would change which part Redis Cluster hashes.
func redisPrefix(v any) error {
	s := v.(string)
	if s == "" {
		return fmt.Errorf("must not be empty")
	}
	if strings.ContainsAny(s, "{}") {
		return fmt.Errorf("%q contains a brace", s)
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return fmt.Errorf("%q contains whitespace", s)
	}
	return nil
}

// topicPattern accepts topic names with "*" and "{user}" placeholders.
func topicPattern(v any) error {
	s := strings.ReplaceAll(strings.ReplaceAll(v.(string), "{user}", "u"), "*", "x")
	if s == "" || len(s) > 128 {
		return fmt.Errorf("%q is not a topic pattern", v)
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_.:@-", c)) {
			return fmt.Errorf("%q is not a topic pattern: names are [A-Za-z0-9_.:@-], with * and {user}", v)
		}
	}
	return nil
}
