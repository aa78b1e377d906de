package main

import (
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/testkit"
)

// Docker is not needed to test the image: the binary is built with the
// Dockerfile's own go build line and started the way its ENTRYPOINT and CMD start
// it, and its HEALTHCHECK command must pass once the node is up.
func TestDockerfileBinaryStartsAndPassesItsHealthCheck(t *testing.T) {
	d := readDockerfile(t)
	checkDockerfileStages(t, d)
	entry, cmd, check := d.execForm(t, "ENTRYPOINT"), d.execForm(t, "CMD"), d.healthCheck(t)
	built, imagePath := buildAsDockerfile(t, d)
	if entry[0] != imagePath || check[0] != imagePath {
		t.Fatalf("ENTRYPOINT %v and HEALTHCHECK %v do not run the binary copied to %s", entry, check, imagePath)
	}
	checkStatic(t, built)

	addr := testkit.FreeAddr(t)
	home := t.TempDir()
	// What `docker run -e HERALD_SERVER__ADDR=...` would give: the image's user
	// has a home directory, and nothing else is set.
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + home, "HERALD_SERVER__ADDR=" + addr}
	node := exec.Command(built, append(entry[1:], cmd...)...)
	node.Env = env
	var log testkit.SyncBuffer
	node.Stdout, node.Stderr = &log, &log
	node.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- node.Wait() }()
	defer func() {
		if t.Failed() {
			t.Logf("node log:\n%s", log.String())
		}
	}()
	testkit.Eventually(t, 20*time.Second, func() error { return getOK("http://" + addr + "/readyz") })
	if out, err := runWithEnv(built, check[1:], env); err != nil {
		t.Fatalf("HEALTHCHECK %v: %v: %s", check, err, out)
	}
	// docker stop: SIGTERM, and the node drains and exits 0.
	_ = node.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		_ = node.Process.Kill()
		t.Fatal("the node did not exit within 20 s of SIGTERM")
	}
	if out, err := runWithEnv(built, check[1:], env); err == nil {
		t.Fatalf("HEALTHCHECK passed with the node gone: %s", out)
	}
}

// checkDockerfileStages: a Go build stage on go.mod's Go version, and a final
// stage that runs as a non-root user and exposes the default server.addr port.
func checkDockerfileStages(t *testing.T, d dockerfile) {
	t.Helper()
	from := d.all("FROM")
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if len(from) != 2 || goVersion == nil || !strings.HasPrefix(from[0], "golang:"+string(goVersion[1])+"-") || !strings.HasSuffix(from[0], " AS build") {
		t.Fatalf("stages %q: want two, the first FROM golang:%s-... AS build (go.mod's version)", from, goVersion)
	}
	user := d.all("USER")
	if len(user) != 1 || regexp.MustCompile(`^(root|0)(:|$)`).MatchString(user[0]) {
		t.Fatalf("USER %q: the final stage must run as a non-root user", user)
	}
	_, port, _ := net.SplitHostPort(keyDefault(t, "server.addr"))
	if expose := d.all("EXPOSE"); len(expose) != 1 || expose[0] != port {
		t.Fatalf("EXPOSE %q, want the port of the default server.addr, %s", expose, port)
	}
}

// buildAsDockerfile runs the Dockerfile's go build line from the repository's
// root, writing where its -o says into a temporary directory instead, and
// returns the binary and the path the final stage copies it to.
func buildAsDockerfile(t *testing.T, d dockerfile) (built, imagePath string) {
	t.Helper()
	var line string
	for _, run := range d.all("RUN") {
		if strings.Contains(run, "go build") {
			line = run
		}
	}
	out := regexp.MustCompile(`-o (\S+)`).FindStringSubmatch(line)
	if out == nil || !strings.Contains(line, "CGO_ENABLED=0") {
		t.Fatalf("no RUN CGO_ENABLED=0 go build ... -o PATH line: %q", line)
	}
	copied := regexp.MustCompile(`^--from=build ` + regexp.QuoteMeta(out[1]) + ` (\S+)$`)
	var m []string
	for _, c := range d.all("COPY") {
		if m = copied.FindStringSubmatch(c); m != nil {
			break
		}
	}
	if m == nil {
		t.Fatalf("the final stage does not COPY --from=build %s", out[1])
	}
	built = filepath.Join(t.TempDir(), "herald")
	sh := exec.Command("sh", "-c", strings.Replace(line, out[0], "-o "+built, 1))
	sh.Dir = "../.."
	if b, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, b)
	}
	return built, m[1]
}

// checkStatic: no dynamic loader, no shared libraries, cgo off, paths trimmed.
func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary asks for a dynamic loader: not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("the binary needs shared libraries %v", libs)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Fatalf("build settings %v: want CGO_ENABLED=0 and -trimpath", settings)
	}
}

func getOK(url string) error {
	res, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return errorf("%s: %d", url, res.StatusCode)
	}
	return nil
}

func runWithEnv(bin string, args, env []string) ([]byte, error) {
	c := exec.Command(bin, args...)
	c.Env = env
	return c.CombinedOutput()
}

// dockerfile is a Dockerfile's instructions, continuation lines joined.
type dockerfile []struct{ op, args string }

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var d dockerfile
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		op, args, _ := strings.Cut(line, " ")
		d = append(d, struct{ op, args string }{strings.ToUpper(op), strings.TrimSpace(args)})
	}
	return d
}

func (d dockerfile) all(op string) []string {
	var out []string
	for _, in := range d {
		if in.op == op {
			out = append(out, in.args)
		}
	}
	return out
}

// execForm is the one op instruction's JSON array.
func (d dockerfile) execForm(t *testing.T, op string) []string {
	t.Helper()
	all := d.all(op)
	var argv []string
	if len(all) != 1 || json.Unmarshal([]byte(all[0]), &argv) != nil || len(argv) == 0 {
		t.Fatalf("%s %q: want one, in exec form: a JSON array", op, all)
	}
	return argv
}

// healthCheck is the HEALTHCHECK's command, after its --options and CMD.
func (d dockerfile) healthCheck(t *testing.T) []string {
	t.Helper()
	all := d.all("HEALTHCHECK")
	_, cmd, ok := strings.Cut(strings.Join(all, ""), " CMD ")
	var argv []string
	if len(all) != 1 || !ok || json.Unmarshal([]byte(cmd), &argv) != nil || len(argv) == 0 {
		t.Fatalf("HEALTHCHECK %q: want one, with CMD in exec form", all)
	}
	return argv
}
