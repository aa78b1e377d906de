package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

const testSecret = "0123456789abcdef-test-secret"

func writeYAML(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "herald.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaults(t *testing.T) {
	c, err := Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Embedded() {
		t.Error("no redis configured, want Embedded")
	}
	if err := nodeID(c.Node.ID); err != nil || c.Node.ID == "" {
		t.Errorf("generated node.id %q: %v", c.Node.ID, err)
	}
	if want := runtime.GOMAXPROCS(0) * 4; c.Directory.Shards != want {
		t.Errorf("directory.shards = %d, want %d", c.Directory.Shards, want)
	}
	// Fields Load resolves are checked above; the rest must equal the table.
	c.Node.ID, c.Directory.Shards = "", 0
	want := Config{
		Server:    Server{Addr: ":8080"},
		Redis:     Redis{Addrs: []string{}, Prefix: "herald", WaitTimeout: time.Second, Sentinel: Sentinel{Addrs: []string{}}},
		Auth:      Auth{AllowedOrigins: []string{}, PublicKeys: []string{}, Audience: []string{}, Issuers: []Issuer{}, Leeway: 5 * time.Second, JWKSRefetchInterval: 10 * time.Second},
		History:   History{Size: 1000, TTL: 24 * time.Hour, Topics: []string{}},
		Limits:    Limits{MaxPendingBytes: 1048576, MaxPayloadBytes: 65536, MaxFrameBytes: 131072, MaxSubscriptions: 100, UpstreamPerSecond: 50, FramesPerSecond: 100},
		Upstream:  Upstream{RefWindow: 2 * time.Minute},
		Topics:    Topics{Subscribe: []string{"*"}, Publish: []string{}},
		Streams:   Streams{Partitions: 1, ReadCount: 500, Block: time.Second, ClaimIdle: 10 * time.Second, MaxDeliveries: 5, LeaseTTL: 5 * time.Second, InboxMaxLen: 1000000, DLQMaxLen: 100000},
		Gateway:   Gateway{WriteTimeout: 5 * time.Second, HandshakeTimeout: 10 * time.Second, PingTimeout: 60 * time.Second, ReadBufferSize: 128},
		Shutdown:  Shutdown{Timeout: 30 * time.Second},
		Memory:    Memory{IdleTrim: 10 * time.Second},
		API:       API{MaxTokenLifetime: 24 * time.Hour, ControlMaxLen: 10000},
		Cluster:   Cluster{NodeTTL: 15 * time.Second},
		Presence:  Presence{Debounce: 5 * time.Second},
		Log:       Log{Level: "info", Format: "text"},
		Directory: Directory{},
		Push: Push{TargetTTL: 60 * 24 * time.Hour, TTL: time.Hour, RateLimit: 30, Concurrency: 8, QueueSize: 1000, MaxAttempts: 5, ClaimIdle: time.Minute,
			SendTimeout: 15 * time.Second, FCM: PushFCM{Endpoint: "https://fcm.googleapis.com"}, APNs: PushAPNs{Endpoint: "https://api.push.apple.com"}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
}

func TestNodeIDGeneratedUnique(t *testing.T) {
	a, err := Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Node.ID == b.Node.ID {
		t.Errorf("two loads generated the same node.id %q", a.Node.ID)
	}
}

func TestPrecedence(t *testing.T) {
	yaml := writeYAML(t, `
server: {addr: ":1001"}
history: {ttl: 1h, size: 11}
redis: {addrs: [y1:1, y2:2]}
auth: {hmac_secret: "`+testSecret+`"}
`)
	env := []string{"HERALD_HISTORY__TTL=2h", "HERALD_REDIS__ADDRS=e1:1,e2:2,e3:3", "HERALD_HISTORY__SIZE=22"}
	flags := []string{"--history.ttl", "3h", "--redis.addrs", "f1:1", "--config", yaml}
	type want struct {
		addr  string
		ttl   time.Duration
		addrs []string
		size  int
	}
	tests := []struct {
		name    string
		args    []string
		environ []string
		want    want
	}{
		{"defaults", nil, nil, want{":8080", 24 * time.Hour, []string{}, 1000}},
		{"yaml over defaults", []string{"--config", yaml}, nil, want{":1001", time.Hour, []string{"y1:1", "y2:2"}, 11}},
		{"env over yaml", []string{"--config", yaml}, env, want{":1001", 2 * time.Hour, []string{"e1:1", "e2:2", "e3:3"}, 22}},
		{"flags over env", flags, env, want{":1001", 3 * time.Hour, []string{"f1:1"}, 22}},
		{"flag over defaults only", []string{"--server.addr", "127.0.0.1:9"}, nil, want{"127.0.0.1:9", 24 * time.Hour, []string{}, 1000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.args, tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			got := want{c.Server.Addr, c.History.TTL, c.Redis.Addrs, c.History.Size}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLists(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		environ []string
		want    []string
	}{
		{"env spaces and blanks", nil, []string{"HERALD_AUTH__ALLOWED_ORIGINS= https://a.example , https://b.example,"}, []string{"https://a.example", "https://b.example"}},
		{"env empty", nil, []string{"HERALD_AUTH__ALLOWED_ORIGINS="}, []string{}},
		{"flag repeated", []string{"--auth.allowed_origins", "a", "--auth.allowed_origins", "b,c"}, nil, []string{"a", "b", "c"}},
		{"yaml scalar", []string{"--config", writeYAML(t, "auth: {allowed_origins: 'x, y'}")}, nil, []string{"x", "y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.args, tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Auth.AllowedOrigins, tt.want) {
				t.Errorf("got %q, want %q", c.Auth.AllowedOrigins, tt.want)
			}
		})
	}
}

func TestUnknownKeysRefused(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		environ []string
		want    string
	}{
		{"yaml", []string{"--config", writeYAML(t, "server: {adr: x}")}, nil, "server.adr"},
		{"yaml top level", []string{"--config", writeYAML(t, "servers: {addr: x}")}, nil, "servers.addr"},
		{"yaml section as value", []string{"--config", writeYAML(t, "server: x")}, nil, "server"},
		{"env", nil, []string{"HERALD_REDIS__ADRR=x"}, "redis.adrr (from HERALD_REDIS__ADRR)"},
		{"env single underscore", nil, []string{"HERALD_REDIS_ADDR=x"}, "HERALD_REDIS__ADDR"},
		{"flag", []string{"--server.adr", "x"}, nil, "server.adr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.args, tt.environ)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %q", err, tt.want)
			}
		})
	}
}

func TestNotConfigKeysAccepted(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		environ []string
	}{
		{"empty yaml sections", []string{"--config", writeYAML(t, "redis:\nlimits: {}\n")}, nil},
		{"empty yaml file", []string{"--config", writeYAML(t, "")}, nil},
		{"dev state variable", nil, []string{envDevState + "=/tmp/x.json"}},
		{"foreign variables", nil, []string{"HOME=/root", "HERALDX=1", "PATH=/bin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load(tt.args, tt.environ); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCallerFlags(t *testing.T) {
	l := NewLoader("token")
	user := l.Flags().String("user", "", "user id")
	ttl := l.Flags().Duration("ttl", time.Hour, "token lifetime")
	c, err := l.Load([]string{"--user", "alice", "--ttl", "2m", "--server.addr", ":9", "extra"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *user != "alice" || *ttl != 2*time.Minute || c.Server.Addr != ":9" {
		t.Errorf("user %q ttl %v addr %q", *user, *ttl, c.Server.Addr)
	}
	if got := l.Flags().Args(); !slices.Equal(got, []string{"extra"}) {
		t.Errorf("Args() = %q", got)
	}
}

func TestHelp(t *testing.T) {
	l := NewLoader("serve")
	_, err := l.Load([]string{"--help"}, nil)
	if !errors.Is(err, pflag.ErrHelp) {
		t.Fatalf("err = %v, want pflag.ErrHelp", err)
	}
	usage := l.Flags().FlagUsages()
	for _, k := range Keys() {
		if !strings.Contains(usage, k.Flag) {
			t.Errorf("usage lacks %s", k.Flag)
		}
	}
}

func TestBadValuesRefused(t *testing.T) {
	env := func(kv ...string) []string { return kv }
	tests := []struct {
		name    string
		args    []string
		environ []string
		want    string
	}{
		{"int not a number", nil, env("HERALD_HISTORY__SIZE=abc"), `history.size: cannot parse "abc"`},
		{"int not a number in yaml", []string{"--config", writeYAML(t, "history: {size: abc}")}, nil, `history.size: cannot parse "abc"`},
		{"int flag", []string{"--history.size", "abc"}, nil, "history.size"},
		{"duration not a duration", nil, env("HERALD_HISTORY__TTL=soon"), `history.ttl: cannot parse "soon"`},
		{"duration without unit in yaml", []string{"--config", writeYAML(t, "history: {ttl: 60}")}, nil, "history.ttl: want a duration"},
		{"bool", nil, env("HERALD_REDIS__TLS=maybe"), `redis.tls: cannot parse "maybe"`},
		{"string given a number", []string{"--config", writeYAML(t, "node: {id: 42}")}, nil, "node.id: want a string"},
		{"list item not a string", []string{"--config", writeYAML(t, "redis: {addrs: [a:1, [b]]}")}, nil, "redis.addrs: item 2"},
		{"yaml null leaf", []string{"--config", writeYAML(t, "log: {level: }")}, nil, "log.level: want a string, got no value"},
		{"below minimum", nil, env("HERALD_LIMITS__MAX_PENDING_BYTES=1023"), "limits.max_pending_bytes: 1023 is below the minimum 1024"},
		{"history size zero", nil, env("HERALD_HISTORY__SIZE=0"), "history.size"},
		{"frame too small", nil, env("HERALD_LIMITS__MAX_FRAME_BYTES=255"), "limits.max_frame_bytes"},
		{"negative sessions", nil, env("HERALD_LIMITS__MAX_SESSIONS_PER_USER=-1"), "limits.max_sessions_per_user"},
		{"above range", nil, env("HERALD_STREAMS__PARTITIONS=1025"), "streams.partitions: 1025 is outside 1..1024"},
		{"read count zero", nil, env("HERALD_STREAMS__READ_COUNT=0"), "streams.read_count"},
		{"duration below range", nil, env("HERALD_STREAMS__BLOCK=5ms"), "streams.block: 5ms is outside 10ms..10s"},
		{"duration above range", nil, env("HERALD_STREAMS__BLOCK=11s"), "streams.block"},
		{"duration zero", nil, env("HERALD_HISTORY__TTL=0s"), "history.ttl: 0s must be positive"},
		{"duration negative", nil, env("HERALD_SHUTDOWN__TIMEOUT=-1s"), "shutdown.timeout"},
		{"lease too short", nil, env("HERALD_STREAMS__LEASE_TTL=99ms"), "streams.lease_ttl"},
		{"ping timeout zero", nil, env("HERALD_GATEWAY__PING_TIMEOUT=0s"), "gateway.ping_timeout"},
		{"shards negative", nil, env("HERALD_DIRECTORY__SHARDS=-1"), "directory.shards"},
		{"log level", nil, env("HERALD_LOG__LEVEL=verbose"), `log.level: "verbose" is not one of`},
		{"log format", nil, env("HERALD_LOG__FORMAT=xml"), "log.format"},
		{"node id chars", nil, env("HERALD_NODE__ID=node/1"), "node.id"},
		{"node id space", nil, env("HERALD_NODE__ID=node 1"), "node.id"},
		{"node id too long", nil, env("HERALD_NODE__ID=" + strings.Repeat("n", 65)), "node.id: 65 bytes"},
		{"prefix empty", nil, env("HERALD_REDIS__PREFIX="), "redis.prefix: must not be empty"},
		{"prefix brace", nil, env("HERALD_REDIS__PREFIX=her{ald}"), "redis.prefix"},
		{"prefix whitespace", nil, env("HERALD_REDIS__PREFIX=her ald"), "redis.prefix"},
		{"server addr no port", nil, env("HERALD_SERVER__ADDR=localhost"), "server.addr"},
		{"server addr bad port", nil, env("HERALD_SERVER__ADDR=:http"), "server.addr"},
		{"server addr empty", nil, env("HERALD_SERVER__ADDR="), "server.addr"},
		{"redis addr", []string{"--redis.addr", "redis", "--auth.hmac_secret", testSecret}, nil, "redis.addr"},
		{"redis addrs item", []string{"--redis.addrs", "a:1,b", "--auth.hmac_secret", testSecret}, nil, "redis.addrs"},
		{"both addr and addrs", []string{"--redis.addr", "a:1", "--redis.addrs", "b:1", "--auth.hmac_secret", testSecret}, nil, "not both"},
		{"secret too short", []string{"--auth.hmac_secret", "short"}, nil, "auth.hmac_secret: must be at least 16 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.args, tt.environ)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestAllProblemsReported(t *testing.T) {
	_, err := Load([]string{"--config", writeYAML(t, "server: {adr: x}")},
		[]string{"HERALD_HISTORY__SIZE=abc", "HERALD_LOG__LEVEL=loud", "HERALD_REDIS__ADDR=r:1"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"server.adr", "history.size", "log.level", "auth.hmac_secret is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestSecretRequiredOutsideEmbedded(t *testing.T) {
	const want = "auth.hmac_secret is required when redis.addr or redis.addrs is set"
	tests := []struct {
		name    string
		environ []string
		wantErr bool
	}{
		{"embedded without secret", nil, false},
		{"redis.addr without secret", []string{"HERALD_REDIS__ADDR=127.0.0.1:6379"}, true},
		{"redis.addrs without secret", []string{"HERALD_REDIS__ADDRS=a:1,b:2"}, true},
		{"redis.addr with secret", []string{"HERALD_REDIS__ADDR=127.0.0.1:6379", "HERALD_AUTH__HMAC_SECRET=" + testSecret}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(nil, tt.environ)
			if tt.wantErr != (err != nil) || err != nil && !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestSecretsNeverEchoed(t *testing.T) {
	_, err := Load(nil, []string{"HERALD_AUTH__HMAC_SECRET=tooshort", "HERALD_REDIS__ADDR=r:1"})
	if err == nil || strings.Contains(err.Error(), "tooshort") {
		t.Fatalf("err = %v, want one without the secret", err)
	}
}

func TestMasked(t *testing.T) {
	c := Config{
		Auth:    Auth{HMACSecret: "s1", AllowedOrigins: []string{"o"}},
		Publish: Publish{APIKey: "s2"},
		Redis:   Redis{Password: "s3", Username: "u", Addrs: []string{"a:1"}},
	}
	m := c.Masked()
	if m.Auth.HMACSecret != mask || m.Publish.APIKey != mask || m.Redis.Password != mask {
		t.Errorf("secrets not masked: %+v", m)
	}
	if m.Redis.Username != "u" || !slices.Equal(m.Redis.Addrs, []string{"a:1"}) {
		t.Errorf("non-secrets changed: %+v", m)
	}
	if c.Auth.HMACSecret != "s1" {
		t.Error("Masked changed its receiver")
	}
	m.Redis.Addrs[0] = "changed"
	if c.Redis.Addrs[0] != "a:1" {
		t.Error("Masked shares a slice with its receiver")
	}
	if e := (Config{}).Masked(); e.Auth.HMACSecret != "" || e.Publish.APIKey != "" || e.Redis.Password != "" {
		t.Errorf("empty secrets must stay empty: %+v", e)
	}
}

// Every key the table marks secret, set through the environment, must be
// absent from Masked and YAML output.
func TestYAMLHidesEverySecret(t *testing.T) {
	for _, k := range Keys() {
		if !k.Secret {
			continue
		}
		t.Run(k.Name, func(t *testing.T) {
			const value = "a-secret-value-nobody-may-see"
			c, err := Load(nil, []string{k.Env + "=" + value})
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.YAML()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(out), value) {
				t.Errorf("YAML shows %s:\n%s", k.Name, out)
			}
			if strings.Contains(strings.ReplaceAll(fmtConfig(c.Masked()), "\n", " "), value) {
				t.Errorf("Masked shows %s", k.Name)
			}
		})
	}
}

func fmtConfig(c Config) string {
	var b strings.Builder
	walk(reflect.ValueOf(c), "", func(key string, v reflect.Value) {
		b.WriteString(key + "=" + formatValue(plain(v.Interface())) + "\n")
	})
	return b.String()
}

func TestYAML(t *testing.T) {
	c, err := Load([]string{"--history.ttl", "90m", "--auth.allowed_origins", "https://a.example"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ttl: 1h30m\n", "addr: :8080\n", "hmac_secret: \"\"\n", "max_pending_bytes: 1048576\n", "- https://a.example\n", "id: " + c.Node.ID} {
		if !strings.Contains(string(out), want) {
			t.Errorf("YAML lacks %q:\n%s", want, out)
		}
	}
	// What `herald config` prints must load back to the same configuration.
	back, err := Load([]string{"--config", writeYAML(t, string(out))}, nil)
	if err != nil {
		t.Fatalf("output does not load back: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip:\n got %#v\nwant %#v", back.Auth, c.Auth)
	}
}

// leafKeys lists Config's leaf fields by koanf tag, independently of walk.
func leafKeys(t reflect.Type, prefix string) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		key := prefix + f.Tag.Get("koanf")
		if f.Type.Kind() == reflect.Struct {
			for k, v := range leafKeys(f.Type, key+".") {
				out[k] = v
			}
			continue
		}
		out[key] = f.Type
	}
	return out
}

func TestKeysCoverEveryField(t *testing.T) {
	fields := leafKeys(reflect.TypeFor[Config](), "")
	keys := Keys()
	if len(keys) != len(fields) {
		t.Errorf("%d keys for %d fields", len(keys), len(fields))
	}
	typeOf := map[string]reflect.Type{
		"string": reflect.TypeFor[string](), "int": reflect.TypeFor[int](), "bool": reflect.TypeFor[bool](),
		"duration": reflect.TypeFor[time.Duration](), "list": reflect.TypeFor[[]string](),
		"list of issuers": reflect.TypeFor[[]Issuer](),
	}
	envRe := regexp.MustCompile(`^HERALD_[A-Z]+__[A-Z_]+$`)
	for _, k := range keys {
		t.Run(k.Name, func(t *testing.T) {
			ft, ok := fields[k.Name]
			if !ok {
				t.Fatalf("key %s has no Config field", k.Name)
			}
			if typeOf[k.Type] != ft {
				t.Errorf("key type %s, field type %s", k.Type, ft)
			}
			if !envRe.MatchString(k.Env) || k.Flag != "--"+k.Name || k.Help == "" {
				t.Errorf("bad KeyInfo %+v", k)
			}
		})
	}
	for name := range fields {
		if !slices.ContainsFunc(keys, func(k KeyInfo) bool { return k.Name == name }) {
			t.Errorf("Config field %s has no entry in the key table", name)
		}
	}
}

func TestKeysDefaults(t *testing.T) {
	want := map[string]string{"server.addr": ":8080", "history.ttl": "24h", "streams.block": "1s", "redis.prefix": "herald", "limits.max_pending_bytes": "1048576", "redis.addrs": ""}
	for _, k := range Keys() {
		if w, ok := want[k.Name]; ok && k.Default != w {
			t.Errorf("%s default %q, want %q", k.Name, k.Default, w)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := map[time.Duration]string{
		24 * time.Hour: "24h", 10 * time.Second: "10s", time.Minute: "1m", 90 * time.Minute: "1h30m",
		10 * time.Millisecond: "10ms", time.Hour + 30*time.Second: "1h0m30s", 0: "0s",
	}
	for d, want := range tests {
		t.Run(want, func(t *testing.T) {
			got := formatDuration(d)
			if got != want {
				t.Errorf("formatDuration(%v) = %q, want %q", int64(d), got, want)
			}
			if back, err := time.ParseDuration(got); err != nil || back != d {
				t.Errorf("%q does not parse back: %v %v", got, back, err)
			}
		})
	}
}
