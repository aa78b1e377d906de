package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/knadh/koanf/parsers/yaml"

	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
)

// compose.yaml runs Redis with the settings docs/OPERATIONS.md requires, and a
// redis-server started with exactly its command line suits a node started with
// exactly the herald service's environment: ready, with no warning.
func TestComposeRedisHasTheRequiredSettings(t *testing.T) {
	services := readCompose(t)
	argv := stringList(t, services["redis"], "command")
	if len(argv) == 0 || argv[0] != "redis-server" {
		t.Fatalf("redis command %q does not start redis-server", argv)
	}
	settings := map[string]string{}
	for i := 1; i+1 < len(argv); i += 2 {
		settings[strings.TrimPrefix(argv[i], "--")] = argv[i+1]
	}
	required := map[string]string{"appendonly": "yes", "appendfsync": "everysec", "maxmemory-policy": "noeviction", "stream-node-max-bytes": "1024"}
	for k, v := range required {
		if settings[k] != v {
			t.Errorf("the redis service runs %s %q, docs/OPERATIONS.md requires %q", k, settings[k], v)
		}
	}
	herald := services["herald"]
	env := composeEnv(t, herald)
	if env["HERALD_REDIS__ADDR"] != "redis:6379" {
		t.Errorf("HERALD_REDIS__ADDR is %q, want the redis service, redis:6379", env["HERALD_REDIS__ADDR"])
	}
	grace, err := time.ParseDuration(herald["stop_grace_period"].(string))
	if shutdown, _ := time.ParseDuration(keyDefault(t, "shutdown.timeout")); err != nil || grace <= shutdown {
		t.Errorf("stop_grace_period %v must exceed shutdown.timeout %v: the drain needs it", herald["stop_grace_period"], shutdown)
	}

	rs := redistest.Start(t, redistest.Options{Args: argv[1:]}) // its defaults come first, these override them
	for k, v := range required {
		if got, err := rs.Client(t).ConfigGet(context.Background(), k).Result(); err != nil || got[k] != v {
			t.Errorf("redis-server with the compose command line has %s %q (%v), want %q", k, got[k], err, v)
		}
	}
	env["HERALD_REDIS__ADDR"] = rs.Addr
	checkNodeAccepts(t, env)
}

// checkNodeAccepts runs `herald serve` with env until /readyz answers 200 with no
// warnings, and checks that the node logged no note about Redis's settings.
func checkNodeAccepts(t *testing.T, env map[string]string) {
	t.Helper()
	addr := testkit.FreeAddr(t)
	environ := []string{"HERALD_SERVER__ADDR=" + addr}
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := &testkit.SyncBuffer{}
	var wg sync.WaitGroup
	wg.Add(1)
	code := -1
	go func() {
		defer wg.Done()
		code = run(ctx, []string{"serve"}, environ, io.Discard, log)
	}()
	defer func() {
		cancel()
		wg.Wait()
		if code != 0 || t.Failed() {
			t.Errorf("serve exited %d; log:\n%s", code, log.String())
		}
	}()
	var body string
	testkit.Eventually(t, 20*time.Second, func() error {
		res, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		body = string(b)
		if res.StatusCode != http.StatusOK {
			return errorf("readyz %d: %s", res.StatusCode, b)
		}
		return nil
	})
	if strings.Contains(body, "warnings") || strings.Contains(log.String(), "stream-node-max-bytes") {
		t.Errorf("the node warns about the compose file's Redis: readyz %s", body)
	}
}

func keyDefault(t *testing.T, name string) string {
	t.Helper()
	for _, k := range config.Keys() {
		if k.Name == name {
			return k.Default
		}
	}
	t.Fatalf("no key %s", name)
	return ""
}

func readCompose(t *testing.T) map[string]map[string]any {
	t.Helper()
	b, err := os.ReadFile("../../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := yaml.Parser().Unmarshal(b)
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	out := map[string]map[string]any{}
	services, _ := doc["services"].(map[string]any)
	for name, s := range services {
		out[name], _ = s.(map[string]any)
	}
	if out["redis"] == nil || out["herald"] == nil {
		t.Fatalf("compose.yaml has services %v, want redis and herald", services)
	}
	return out
}

func stringList(t *testing.T, m map[string]any, key string) []string {
	t.Helper()
	list, ok := m[key].([]any)
	if !ok {
		t.Fatalf("%s is %T, want a list", key, m[key])
	}
	out := make([]string, len(list))
	for i, v := range list {
		if out[i], ok = v.(string); !ok {
			t.Fatalf("%s[%d] is %T (%v): quote it, compose passes strings", key, i, v, v)
		}
	}
	return out
}

// composeEnv is the service's environment as compose interpolates it, with a test
// value for every ${VAR:?...} it requires and ${VAR:-default} defaults.
func composeEnv(t *testing.T, service map[string]any) map[string]string {
	t.Helper()
	given := map[string]string{"HERALD_AUTH__HMAC_SECRET": "compose-test-secret-0123456789"}
	ref := regexp.MustCompile(`\$\{(\w+)(?::([?-])([^}]*))?\}`)
	raw, _ := service["environment"].(map[string]any)
	env := map[string]string{}
	for k, v := range raw {
		s, ok := v.(string)
		if !ok {
			t.Fatalf("environment %s is %T, want a string", k, v)
		}
		env[k] = ref.ReplaceAllStringFunc(s, func(m string) string {
			p := ref.FindStringSubmatch(m)
			if val, ok := given[p[1]]; ok {
				return val
			}
			if p[2] == "?" {
				t.Fatalf("compose.yaml requires %s, which the test does not know", p[1])
			}
			return p[3]
		})
	}
	return env
}
