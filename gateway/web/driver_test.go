package web_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/testkit"
)

// The browser of the browser tests: testdata/driver.mjs, a playwright-core
// driver spoken to in JSON lines over stdin and stdout.

type browser struct {
	version string
	stdin   io.WriteCloser
	wmu     sync.Mutex
	seq     atomic.Int64
	mu      sync.Mutex
	pending map[int64]chan reply
	console []string
	dead    chan struct{}
}

type reply struct {
	ID    int64           `json:"id"`
	OK    bool            `json:"ok"`
	Value json.RawMessage `json:"value"`
	Error string          `json:"error"`
	Event string          `json:"event"`
	Page  string          `json:"page"`
	Text  string          `json:"text"`
	Ver   string          `json:"version"`
}

// startBrowser makes sure chromium, node and npm are there, installs playwright-core
// (once per package.json, in the user cache directory) and starts the driver.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	chromium := ensureTools(t)
	dir := installDriver(t)
	cmd := exec.Command("node", filepath.Join(dir, "driver.mjs"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WEBTEST_CHROMIUM="+chromium)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr := &testkit.SyncBuffer{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &browser{stdin: stdin, pending: map[int64]chan reply{}, dead: make(chan struct{})}
	ready := make(chan string, 1)
	go b.readReplies(stdout, ready)
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-b.dead:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
		if t.Failed() {
			b.mu.Lock()
			t.Logf("browser console:\n%s", strings.Join(b.console, "\n"))
			b.mu.Unlock()
		}
	})
	select {
	case b.version = <-ready:
	case <-b.dead:
		t.Fatalf("the browser driver stopped at start (chromium %s):\n%s", chromium, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("the browser driver did not start in 60 s:\n%s", stderr.String())
	}
	return b
}

// readReplies reads the driver's lines until it exits: answers go to their
// callers, console lines are kept for failure messages.
func (b *browser) readReplies(stdout io.Reader, ready chan<- string) {
	defer close(b.dead)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var r reply
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		switch r.Event {
		case "ready":
			ready <- r.Ver
		case "console":
			b.mu.Lock()
			b.console = append(b.console, r.Page+" "+r.Text)
			b.mu.Unlock()
		case "":
			b.mu.Lock()
			ch := b.pending[r.ID]
			delete(b.pending, r.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- r
			}
		}
	}
}

// ensureTools finds chromium, node and npm, installing them with apt-get when the
// test runs as root; it returns the chromium executable.
func ensureTools(t *testing.T) string {
	t.Helper()
	chromium := os.Getenv("WEBTEST_CHROMIUM")
	find := func() string {
		if chromium != "" {
			return chromium
		}
		for _, name := range []string{"chromium", "chromium-browser"} {
			if p, err := exec.LookPath(name); err == nil {
				return p
			}
		}
		return ""
	}
	var missing []string
	if find() == "" {
		missing = append(missing, "chromium")
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return find()
	}
	_, aptErr := exec.LookPath("apt-get")
	if os.Geteuid() != 0 || aptErr != nil {
		t.Fatalf("the browser tests need %s: install Debian's packages (apt-get install chromium nodejs npm), "+
			"or set WEBTEST_CHROMIUM to a Chromium executable; this test never skips", strings.Join(missing, ", "))
	}
	pkgs := []string{}
	for _, m := range missing {
		switch m {
		case "node":
			pkgs = append(pkgs, "nodejs")
		default:
			pkgs = append(pkgs, m)
		}
	}
	t.Logf("installing %s with apt-get", strings.Join(pkgs, " "))
	for _, args := range [][]string{{"update"}, append([]string{"install", "-y", "--no-install-recommends"}, pkgs...)} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("apt-get %s: %v\n%s", strings.Join(args, " "), err, tail(out))
		}
	}
	if find() == "" {
		t.Fatal("apt-get installed chromium, but no chromium executable is on PATH")
	}
	return find()
}

// installDriver puts testdata's package.json, lock and driver.mjs in a cache
// directory named by their hash, and runs npm install there when playwright-core
// is not installed yet. The install goes to a temporary directory renamed into
// place, so that concurrent test runs do not see a half-installed one.
func installDriver(t *testing.T) string {
	t.Helper()
	var files = map[string][]byte{}
	h := sha256.New()
	for _, name := range []string{"package.json", "package-lock.json", "driver.mjs"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
		if name != "driver.mjs" {
			h.Write(b)
		}
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "herald-web-tests", hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err != nil {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			t.Fatal(err)
		}
		tmp, err := os.MkdirTemp(filepath.Dir(dir), "install-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		for _, name := range []string{"package.json", "package-lock.json"} {
			if err := os.WriteFile(filepath.Join(tmp, name), files[name], 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund")
		cmd.Dir = tmp
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm install playwright-core in %s: %v\n%s", tmp, err, tail(out))
		}
		if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) {
			if _, statErr := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); statErr != nil {
				t.Fatalf("install playwright-core: %v", err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "driver.mjs"), files["driver.mjs"], 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (b *browser) call(t *testing.T, req map[string]any, timeout time.Duration) json.RawMessage {
	t.Helper()
	id := b.seq.Add(1)
	req["id"] = id
	ch := make(chan reply, 1)
	b.mu.Lock()
	b.pending[id] = ch
	b.mu.Unlock()
	line, _ := json.Marshal(req)
	b.wmu.Lock()
	_, err := b.stdin.Write(append(line, '\n'))
	b.wmu.Unlock()
	if err != nil {
		t.Fatalf("browser driver: %v", err)
	}
	select {
	case r := <-ch:
		if !r.OK {
			t.Fatalf("browser %s: %s", req["op"], r.Error)
		}
		return r.Value
	case <-b.dead:
		t.Fatalf("the browser driver stopped during %s", req["op"])
	case <-time.After(timeout):
		t.Fatalf("browser %s: no answer in %v", req["op"], timeout)
	}
	return nil
}

type page struct {
	t  *testing.T
	b  *browser
	id string
}

func (b *browser) open(t *testing.T, url string) *page {
	t.Helper()
	var id string
	if err := json.Unmarshal(b.call(t, map[string]any{"op": "open", "url": url}, 30*time.Second), &id); err != nil {
		t.Fatal(err)
	}
	p := &page{t: t, b: b, id: id}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("page state: %s", p.state())
		}
		p.b.call(t, map[string]any{"op": "close", "page": p.id}, 10*time.Second)
	})
	return p
}

// eval runs js as the body of an async function in the page.
func (p *page) eval(js string) json.RawMessage {
	p.t.Helper()
	return p.b.call(p.t, map[string]any{"op": "eval", "page": p.id, "js": js}, 30*time.Second)
}

func (p *page) evalInto(js string, v any) {
	p.t.Helper()
	if err := json.Unmarshal(p.eval(js), v); err != nil {
		p.t.Fatal(err)
	}
}

// check runs js, which returns nothing when all is well and a description of the
// problem otherwise.
func (p *page) check(js string) {
	p.t.Helper()
	var problem *string
	p.evalInto(js, &problem)
	if problem != nil {
		p.t.Fatalf("in the page: %s", *problem)
	}
}

// wait waits until the JavaScript expression cond is truthy.
func (p *page) wait(cond string, timeout time.Duration) {
	p.t.Helper()
	id := p.b.seq.Add(1)
	ch := make(chan reply, 1)
	p.b.mu.Lock()
	p.b.pending[id] = ch
	p.b.mu.Unlock()
	line, _ := json.Marshal(map[string]any{"id": id, "op": "wait", "page": p.id, "js": cond, "timeout": timeout.Milliseconds()})
	p.b.wmu.Lock()
	_, _ = p.b.stdin.Write(append(line, '\n'))
	p.b.wmu.Unlock()
	select {
	case r := <-ch:
		if !r.OK {
			p.t.Fatalf("not within %v: %s\n(%s)", timeout, cond, r.Error)
		}
	case <-p.b.dead:
		p.t.Fatal("the browser driver stopped")
	case <-time.After(timeout + 10*time.Second):
		p.t.Fatalf("no answer from the browser while waiting for %s", cond)
	}
}

func (p *page) click(sel string) {
	p.t.Helper()
	p.b.call(p.t, map[string]any{"op": "click", "page": p.id, "selector": sel}, 15*time.Second)
}

func (p *page) fill(sel, value string) {
	p.t.Helper()
	p.b.call(p.t, map[string]any{"op": "fill", "page": p.id, "selector": sel, "value": value}, 15*time.Second)
}

func (p *page) screenshot(path string) {
	p.t.Helper()
	p.b.call(p.t, map[string]any{"op": "screenshot", "page": p.id, "path": path}, 30*time.Second)
}

// state describes the clients of a harness page, for failure messages.
func (p *page) state() string {
	id := p.b.seq.Add(1)
	ch := make(chan reply, 1)
	p.b.mu.Lock()
	p.b.pending[id] = ch
	p.b.mu.Unlock()
	js := `(async () => { if (!window.T) return document.body.innerText.slice(0, 3000);
		const out = {}; for (const [k, v] of Object.entries(T)) out[k] = {state: v.h.state, offset: v.h.offset, ...v.rec,
		pushes: v.rec.pushes.length > 20 ? v.rec.pushes.length + " pushes" : v.rec.pushes};
		return JSON.stringify(out); })()`
	line, _ := json.Marshal(map[string]any{"id": id, "op": "eval", "page": p.id, "js": "return " + js})
	p.b.wmu.Lock()
	_, _ = p.b.stdin.Write(append(line, '\n'))
	p.b.wmu.Unlock()
	select {
	case r := <-ch:
		if r.OK {
			return string(r.Value)
		}
		return r.Error
	case <-time.After(5 * time.Second):
		return "(no answer)"
	}
}
