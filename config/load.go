package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// envReserved are HERALD_* variables that are not configuration keys, so the
// unknown-key check must not refuse them. A new one belongs here: besides the dev
// state file, the test and CI knobs, which a developer may have exported in the
// shell that starts herald processes.
var envReserved = []string{envDevState, "HERALD_FUZZTIME", "HERALD_REDIS_SERVER", "HERALD_TEST_BINARY"}

// Loader parses one command line into a Config. Callers that need more flags
// than the configuration keys (a subcommand's own options) add them to
// Flags() before calling Load; only flags named after a key become config.
type Loader struct {
	fs         *pflag.FlagSet
	configFile *string
}

// NewLoader returns a Loader whose flag set, named name, has --config and one
// flag per configuration key.
func NewLoader(name string) *Loader {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	// Errors are returned, never printed: the caller owns stdout and stderr.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	l := &Loader{fs: fs, configFile: fs.String("config", "", "YAML configuration file")}
	for _, d := range keyTable {
		defineFlag(fs, d)
	}
	return l
}

// Flags is the flag set Load parses. Its FlagUsages() is the help text; after
// Load, its Args() are the positional arguments.
func (l *Loader) Flags() *pflag.FlagSet {
	return l.fs
}

// Load parses args (the arguments after the subcommand) and layers defaults,
// the --config file, HERALD_* variables from environ and the flags, in that
// order. It returns every problem found, joined. A Loader parses once.
// --help yields an error that matches pflag.ErrHelp.
func Load(args, environ []string) (Config, error) {
	return NewLoader("herald").Load(args, environ)
}

// Load does what the package-level Load does, with this Loader's flag set.
func (l *Loader) Load(args, environ []string) (Config, error) {
	if err := l.fs.Parse(args); err != nil {
		return Config{}, fmt.Errorf("config: %w%s", err, didYouMean(l.fs, err))
	}
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(defaults(), "."), nil); err != nil {
		return Config{}, fmt.Errorf("config: defaults: %w", err)
	}
	var errs []error
	for _, read := range l.sources(environ) {
		entries, err := read()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		values, bad := accept(entries)
		errs = append(errs, bad...)
		if err := k.Load(confmap.Provider(values, "."), nil); err != nil {
			errs = append(errs, fmt.Errorf("config: %w", err))
		}
	}
	errs = append(errs, checkKeys(k)...)
	c, err := decode(k)
	if err != nil {
		errs = append(errs, err)
	} else {
		errs = append(errs, crossCheck(c)...)
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	if err := resolve(&c); err != nil {
		return Config{}, err
	}
	return c, nil
}

// entry is one raw value and where it came from, for error messages.
type entry struct {
	key  string
	from string
	raw  any
}

// sources are the layers above the defaults, lowest precedence first.
func (l *Loader) sources(environ []string) []func() ([]entry, error) {
	var out []func() ([]entry, error)
	if path := *l.configFile; path != "" {
		out = append(out, func() ([]entry, error) { return readFile(path) })
	}
	return append(out,
		func() ([]entry, error) { return readEnv(environ) },
		func() ([]entry, error) { return readFlags(l.fs) },
	)
}

func readFile(path string) ([]entry, error) {
	lk := koanf.New(".")
	if err := lk.Load(file.Provider(path), yaml.Parser()); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	var out []entry
	for key, raw := range lk.All() {
		out = append(out, entry{key: key, from: path, raw: raw})
	}
	return out, nil
}

func readEnv(environ []string) ([]entry, error) {
	names := map[string]string{} // key -> variable, to name the variable in errors
	p := env.Provider(".", env.Opt{
		Prefix:      envPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, value string) (string, any) {
			if slices.Contains(envReserved, name) {
				return "", nil
			}
			key := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, envPrefix)), "__", ".")
			names[key] = name
			return key, value
		},
	})
	lk := koanf.New(".")
	if err := lk.Load(p, nil); err != nil {
		return nil, fmt.Errorf("config: environment: %w", err)
	}
	var out []entry
	for key, raw := range lk.All() {
		from := names[key]
		if from == "" {
			from = envName(key)
		}
		out = append(out, entry{key: key, from: from, raw: raw})
	}
	return out, nil
}

// readFlags returns only flags set on the command line and named after a
// key: pflag defaults equal the table's, and caller-added flags are theirs.
func readFlags(fs *pflag.FlagSet) ([]entry, error) {
	var out []entry
	fs.Visit(func(f *pflag.Flag) {
		if _, ok := lookupKey(f.Name); ok {
			out = append(out, entry{key: f.Name, from: "--" + f.Name, raw: posflag.FlagVal(fs, f)})
		}
	})
	return out, nil
}

// accept refuses unknown keys and coerces every value to its key's type, so
// that a typo or a bad value is reported with the key and its origin instead
// of being ignored or mangled by a weakly typed decoder.
func accept(entries []entry) (map[string]any, []error) {
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	values := map[string]any{}
	var errs []error
	for _, e := range entries {
		d, ok := lookupKey(e.key)
		if !ok {
			if err := unknown(e); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		v, err := coerce(d.def, e.raw)
		if err != nil {
			errs = append(errs, keyError(e.key, e.from, err))
			continue
		}
		values[e.key] = v
	}
	return values, errs
}

// unknown explains a key that is not in the table. An empty section
// ("redis:" with every line commented out) is legitimate YAML and passes.
func unknown(e entry) error {
	if isSection(e.key) {
		if m, ok := e.raw.(map[string]any); e.raw == nil || ok && len(m) == 0 {
			return nil
		}
		return keyError(e.key, e.from, errors.New("is a section; set the keys under it"))
	}
	hint := ""
	if head, tail, ok := strings.Cut(e.key, "_"); ok && strings.HasPrefix(e.from, envPrefix) {
		if _, known := lookupKey(head + "." + tail); known {
			hint = "; use a double underscore between section and key: " + envName(head+"."+tail)
		}
	}
	if hint == "" {
		hint = didYouMeanKey(e.key)
	}
	return fmt.Errorf("config: unknown key %s (from %s)%s", e.key, e.from, hint)
}

func keyError(key, from string, err error) error {
	if from == "" {
		return fmt.Errorf("config: %s: %w", key, err)
	}
	return fmt.Errorf("config: %s: %w (from %s)", key, err, from)
}

// checkKeys runs each key's own check on the merged value.
func checkKeys(k *koanf.Koanf) []error {
	var errs []error
	for _, d := range keyTable {
		if d.check == nil {
			continue
		}
		v, err := coerce(d.def, k.Get(d.name))
		if err == nil {
			err = d.check(v)
		}
		if err != nil {
			errs = append(errs, keyError(d.name, "", err))
		}
	}
	return errs
}

// decode fills Config. ErrorUnused and ErrorUnset make the key table and the
// struct fail loudly if they ever disagree.
func decode(k *koanf.Koanf) (Config, error) {
	var c Config
	err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{
		Tag: "koanf",
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook: mapstructure.ComposeDecodeHookFunc(
				mapstructure.StringToTimeDurationHookFunc(),
				mapstructure.StringToSliceHookFunc(","),
			),
			ErrorUnused: true,
			ErrorUnset:  true,
			TagName:     "koanf",
		},
	})
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// resolve fills the defaults that depend on the machine.
func resolve(c *Config) error {
	if c.Node.ID == "" {
		id, err := defaultNodeID()
		if err != nil {
			return fmt.Errorf("config: node.id: %w", err)
		}
		c.Node.ID = id
	}
	if c.Directory.Shards == 0 {
		c.Directory.Shards = runtime.GOMAXPROCS(0) * 4
	}
	if c.Auth.Issuers == nil { // the decoder drops an empty list of structs; lists are never nil
		c.Auth.Issuers = []Issuer{}
	}
	return nil
}

// defaultNodeID is the host name plus a random suffix, so two processes on
// one host (or a restarted container keeping its name) never share an id.
func defaultNodeID() (string, error) {
	host, err := os.Hostname()
	if err != nil {
		host = ""
	}
	host = strings.Map(func(r rune) rune {
		if nodeIDRune(r) {
			return r
		}
		return '-'
	}, host)
	if host == "" {
		host = "herald"
	}
	suffix, err := randomHex(3)
	if err != nil {
		return "", err
	}
	const maxHost = 64 - 1 - 6
	if len(host) > maxHost {
		host = host[:maxHost]
	}
	return host + "-" + suffix, nil
}

// crossCheck validates rules that involve more than one key.
func crossCheck(c Config) []error {
	var errs []error
	if c.Redis.Addr != "" && len(c.Redis.Addrs) > 0 {
		errs = append(errs, errors.New("config: redis.addrs: set either redis.addr (one Redis) or redis.addrs (Redis Cluster), not both"))
	}
	errs = append(errs, crossCheckRedis(c.Redis)...)
	errs = append(errs, crossCheckPush(c)...)
	if c.Redis.WaitReplicas > 0 && c.Redis.WaitTimeout >= c.Streams.LeaseTTL/3 {
		// A router blocked in WAIT past its lease's renewal loses the lease, takes it
		// again and re-reads its pending entries, each re-read a delivery towards
		// streams.max_deliveries.
		errs = append(errs, fmt.Errorf("config: redis.wait_timeout: %v must be below streams.lease_ttl/3 (%v)", c.Redis.WaitTimeout, c.Streams.LeaseTTL/3))
	}
	return append(errs, crossCheckAuth(c)...)
}

// crossCheckAuth wants token keys outside the embedded mode, and auth.issuer
// and auth.audience only beside the flat keys they apply to.
func crossCheckAuth(c Config) []error {
	var errs []error
	a := c.Auth
	flatKeys := a.HMACSecret != "" || a.JWKSURL != "" || len(a.PublicKeys) > 0
	switch {
	case !c.Embedded() && !flatKeys && len(a.Issuers) == 0:
		errs = append(errs, errors.New("config: auth.hmac_secret is required when redis.addr or redis.addrs is set (or redis.sentinel.master), unless auth.jwks_url, auth.public_keys or auth.issuers gives the token keys"))
	case a.HMACSecret != "" && len(a.HMACSecret) < minSecretBytes:
		errs = append(errs, fmt.Errorf("config: auth.hmac_secret: must be at least %d bytes", minSecretBytes))
	}
	if (a.Issuer != "" || len(a.Audience) > 0) && !flatKeys && !c.Embedded() {
		errs = append(errs, errors.New("config: auth.issuer, auth.audience: they apply to the keys of auth.hmac_secret, auth.jwks_url and auth.public_keys, and none is set; give an auth.issuers entry its own issuer and audience"))
	}
	return errs
}

// crossCheckRedis validates the choice of Redis: one of redis.addr, redis.addrs
// and redis.sentinel.master, and redis.wait_replicas only where WAIT can cover
// the router's writes.
func crossCheckRedis(r Redis) []error {
	var errs []error
	s := r.Sentinel
	if s.Master != "" && (r.Addr != "" || len(r.Addrs) > 0) {
		errs = append(errs, errors.New("config: redis.sentinel.master: set either redis.sentinel.master (Sentinel), redis.addr (one Redis) or redis.addrs (Redis Cluster), not several"))
	}
	if s.Master != "" && len(s.Addrs) == 0 {
		errs = append(errs, errors.New("config: redis.sentinel.addrs: required with redis.sentinel.master"))
	}
	if s.Master == "" && len(s.Addrs) > 0 {
		errs = append(errs, errors.New("config: redis.sentinel.addrs: set redis.sentinel.master too (the name the Sentinels know the master by)"))
	}
	if r.WaitReplicas > 0 && r.Addr == "" && len(r.Addrs) == 0 && s.Master == "" {
		errs = append(errs, errors.New("config: redis.wait_replicas: the embedded store has no replicas; set it to 0"))
	}
	return errs
}

// minSecretBytes keeps HS256 secrets out of brute-force range.
const minSecretBytes = 16

func defaults() map[string]any {
	out := make(map[string]any, len(keyTable))
	for _, d := range keyTable {
		v, err := coerce(d.def, d.def) // normalises nil lists to empty ones
		if err != nil {
			panic(fmt.Sprintf("config: default of %s: %v", d.name, err))
		}
		out[d.name] = v
	}
	return out
}

func defineFlag(fs *pflag.FlagSet, d keyDef) {
	help := d.help
	if d.secret {
		help += " (secret)"
	}
	switch v := d.def.(type) {
	case string:
		fs.String(d.name, v, help)
	case int:
		fs.Int(d.name, v, help)
	case bool:
		fs.Bool(d.name, v, help)
	case time.Duration:
		fs.Duration(d.name, v, help)
	case []string:
		fs.StringSlice(d.name, v, help)
	case []Issuer:
		fs.String(d.name, "", help+" (JSON)")
	default:
		panic(fmt.Sprintf("config: key %s has unsupported type %T", d.name, v))
	}
}
