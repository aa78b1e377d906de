package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/gateway/web"
	"github.com/herald-push/herald/streams"
)

func do(t *testing.T, h http.Handler, method, path, ctype, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = "127.0.0.1:40000" // a client on this machine, as the dev endpoints require
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestClientScriptIsAlwaysServed(t *testing.T) {
	want, err := os.ReadFile("static/herald.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, demo := range []bool{false, true} {
		h := web.Handler(web.Config{Demo: demo, Secret: []byte(testSecret), Publish: func(context.Context, streams.Publication) (string, error) { return "1-0", nil }})
		w := do(t, h, "GET", "/herald.js", "", "")
		if w.Code != 200 || w.Body.String() != string(want) {
			t.Fatalf("demo=%v: GET /herald.js: %d, %d bytes", demo, w.Code, w.Body.Len())
		}
		if ct := w.Header().Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		if w.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Error("no CORS header: other origins cannot import the module")
		}
		etag := w.Header().Get("ETag")
		if w2 := do(t, h, "GET", "/herald.js", "", "", "If-None-Match", etag); etag == "" || w2.Code != http.StatusNotModified {
			t.Errorf("revalidation with ETag %q: %d", etag, w2.Code)
		}
	}
}

// The sample service worker is served beside the client, as JavaScript.
func TestServiceWorkerIsServed(t *testing.T) {
	want, err := os.ReadFile("static/herald-sw.js")
	if err != nil {
		t.Fatal(err)
	}
	w := do(t, web.Handler(web.Config{}), "GET", "/herald-sw.js", "", "")
	if w.Code != 200 || w.Body.String() != string(want) || w.Header().Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("GET /herald-sw.js: %d %q, %d bytes", w.Code, w.Header().Get("Content-Type"), w.Body.Len())
	}
}

func TestDemoRoutesOnlyInDemoMode(t *testing.T) {
	off := web.Handler(web.Config{})
	for _, p := range []string{"/", "/demo/demo.js", "/dev/token", "/dev/publish"} {
		method := "GET"
		if strings.HasPrefix(p, "/dev/") {
			method = "POST"
		}
		if w := do(t, off, method, p, "application/json", `{"user":"alice"}`); w.Code != http.StatusNotFound {
			t.Errorf("demo off: %s %s = %d, want 404", method, p, w.Code)
		}
	}
	if got := len(web.Routes(web.Config{})); got != 2 {
		t.Errorf("Routes without Demo: %d patterns, want 2 (/herald.js, /herald-sw.js)", got)
	}

	on := web.Handler(web.Config{Demo: true, Secret: []byte(testSecret), Publish: func(context.Context, streams.Publication) (string, error) { return "1-0", nil }})
	for p, ctype := range map[string]string{"/": "text/html", "/demo/demo.js": "text/javascript", "/demo/demo.css": "text/css"} {
		w := do(t, on, "GET", p, "", "")
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %s", p, w.Code, w.Header().Get("Content-Type"))
		}
	}
	if w := do(t, on, "GET", "/nothing", "", ""); w.Code != http.StatusNotFound {
		t.Errorf("GET /nothing: %d", w.Code)
	}
	if w := do(t, on, "GET", "/dev/token", "", ""); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /dev/token: %d", w.Code)
	}
	routes := web.Routes(web.Config{Demo: true, Secret: []byte(testSecret), Publish: func(context.Context, streams.Publication) (string, error) { return "", nil }})
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(299) })
	for p, h := range routes {
		mux.Handle(p, h)
	}
	for p, want := range map[string]int{"/": 200, "/herald.js": 200, "/demo/demo.css": 200, "/ws": 299, "/other": 404} {
		if w := do(t, mux, "GET", p, "", ""); w.Code != want {
			t.Errorf("mounted Routes: GET %s = %d, want %d", p, w.Code, want)
		}
	}
}

func TestDevToken(t *testing.T) {
	now := time.Now()
	h := web.Handler(web.Config{Demo: true, Secret: []byte(testSecret), Now: func() time.Time { return now },
		Publish: func(context.Context, streams.Publication) (string, error) { return "", nil }})
	w := do(t, h, "POST", "/dev/token", "application/json", `{"user":"alice@example.com"}`)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var out struct {
		Token   string `json:"token"`
		Expires int64  `json:"expires"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	c, err := auth.NewVerifier([]byte(testSecret), 0).Verify(out.Token)
	if err != nil {
		t.Fatal(err)
	}
	if c.User != "alice@example.com" || c.Expiry.Unix() != now.Add(time.Hour).Unix() || out.Expires != c.Expiry.Unix() {
		t.Errorf("claims %+v, expires %d", c, out.Expires)
	}
	for _, tc := range []struct {
		ctype, body string
		status      int
	}{
		{"application/json", `{"user":""}`, 400},
		{"application/json", `{"user":"bad name"}`, 400},
		{"application/json", `{"user":"` + strings.Repeat("a", 129) + `"}`, 400},
		{"application/json", `{"user":"alice","device":"a/b"}`, 400},
		{"application/json", `{"user":"alice","admin":true}`, 400},
		{"application/json", `{"user":"alice"} {"user":"bob"}`, 400},
		{"application/json", `{"user":"` + strings.Repeat("a", 5000) + `"}`, 413},
		{"text/plain", `{"user":"alice"}`, 415}, // a cross-site form post
		{"", `{"user":"alice"}`, 415},
		{"application/json; charset=utf-8", `{"user":"alice","device":"phone-1"}`, 200},
	} {
		if w := do(t, h, "POST", "/dev/token", tc.ctype, tc.body); w.Code != tc.status {
			t.Errorf("%s %.60s: %d %s, want %d", tc.ctype, tc.body, w.Code, w.Body, tc.status)
		}
	}
}

func TestDevPublish(t *testing.T) {
	var got []streams.Publication
	var fail error
	h := web.Handler(web.Config{Demo: true, Secret: []byte(testSecret), MaxPayloadBytes: 1000,
		Publish: func(_ context.Context, p streams.Publication) (string, error) {
			if fail != nil {
				return "", fail
			}
			got = append(got, p)
			return "1700000000000-0", nil
		}})
	w := do(t, h, "POST", "/dev/publish", "application/json", `{"to":"alice","data":{"text":"hi"},"id":"m-1","from":"bob"}`)
	if w.Code != http.StatusAccepted || strings.TrimSpace(w.Body.String()) != `{"id":"1700000000000-0"}` {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	w = do(t, h, "POST", "/dev/publish", "application/json", `{"topic":"news","data":"plain"}`)
	if w.Code != http.StatusAccepted {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if len(got) != 2 || got[0].To != "alice" || string(got[0].Data) != `{"text":"hi"}` || got[0].ID != "m-1" || got[0].From != "bob" ||
		got[1].Topic != "news" || string(got[1].Data) != `"plain"` {
		t.Fatalf("published %+v", got)
	}
	for _, body := range []string{
		`{"data":1}`,
		`{"to":"a","topic":"b","data":1}`,
		`{"to":"a b","data":1}`,
		`{"topic":"","to":"","data":1}`,
		`{"to":"alice","from":"x y","data":1}`,
		`{"to":"alice"}`,
		`{"to":"alice","data":null}`,
		`{"to":"alice","data":{bad}}`,
		`{"to":"alice","data":1,"ttl":5}`,
	} {
		if w := do(t, h, "POST", "/dev/publish", "application/json", body); w.Code != 400 {
			t.Errorf("%s: %d %s, want 400", body, w.Code, w.Body)
		}
	}
	if w := do(t, h, "POST", "/dev/publish", "application/json", `{"to":"alice","data":"`+strings.Repeat("x", 6000)+`"}`); w.Code != 413 {
		t.Errorf("oversize: %d", w.Code)
	}
	fail = streams.Rejection("invalid id")
	if w := do(t, h, "POST", "/dev/publish", "application/json", `{"to":"alice","data":1}`); w.Code != 400 || !strings.Contains(w.Body.String(), "invalid id") {
		t.Errorf("rejection: %d %s", w.Code, w.Body)
	}
	fail = errors.New("dial tcp: connection refused")
	if w := do(t, h, "POST", "/dev/publish", "application/json", `{"to":"alice","data":1}`); w.Code != 503 || strings.Contains(w.Body.String(), "dial") {
		t.Errorf("redis down: %d %s", w.Code, w.Body)
	}
	if len(got) != 2 {
		t.Errorf("bad requests published: %+v", got[2:])
	}
}

func TestDemoNeedsSecretAndPublish(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Handler(Demo without Secret) did not panic")
		}
	}()
	web.Handler(web.Config{Demo: true})
}

func TestPackageJSON(t *testing.T) {
	b, err := os.ReadFile("static/package.json")
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		Name    string `json:"name"`
		Type    string `json:"type"`
		Exports string `json:"exports"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatal(err)
	}
	if pkg.Name != "@herald/client" || pkg.Type != "module" || pkg.Exports != "./herald.js" {
		t.Errorf("package.json: %+v", pkg)
	}
	if _, err := os.Stat("static" + strings.TrimPrefix(pkg.Exports, ".")); err != nil {
		t.Error(err)
	}
}

func TestDevEndpointsRefuseOtherMachines(t *testing.T) {
	h := web.Handler(web.Config{Demo: true, Secret: []byte("0123456789abcdef-secret"),
		Publish: func(context.Context, streams.Publication) (string, error) { return "1-1", nil }})
	for _, path := range []string{"/dev/token", "/dev/publish"} {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{"user":"alice"}`))
		r.Header.Set("Content-Type", "application/json")
		r.RemoteAddr = "192.0.2.7:5555"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusForbidden {
			t.Fatalf("%s from another machine: %d %s", path, w.Code, w.Body)
		}
	}
}

// A node configured with auth.issuer and auth.audience accepts the demo's
// tokens: /dev/token mints them with the same iss and aud.
func TestDevTokenCarriesTheConfiguredIssuer(t *testing.T) {
	mint := auth.MintOptions{Issuer: "https://id.example", Audience: []string{"herald"}}
	h := web.Handler(web.Config{Demo: true, Secret: []byte(testSecret), Mint: mint,
		Publish: func(context.Context, streams.Publication) (string, error) { return "", nil }})
	w := do(t, h, "POST", "/dev/token", "application/json", `{"user":"alice"}`)
	var out struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	v, err := auth.New(auth.Config{Issuers: []auth.IssuerConfig{{Issuer: mint.Issuer, Audience: mint.Audience, HMACSecret: []byte(testSecret)}}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Verify(out.Token); err != nil {
		t.Errorf("a node with auth.issuer refuses the demo's token: %v", err)
	}
}
