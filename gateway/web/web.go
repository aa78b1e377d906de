// Package web serves Herald's browser side: the JavaScript client at /herald.js
// (always) and, in the embedded mode only, a demo page at / with the two dev
// endpoints it needs, POST /dev/token and POST /dev/publish.
//
// The files are embedded in the binary (static/ and demo/); nothing is built.
// static/ is also the npm package @herald/client (package.json, herald.js,
// herald.d.ts).
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

//go:embed static/herald.js static/herald.d.ts static/package.json demo
var files embed.FS

// Config configures Handler.
type Config struct {
	// Demo serves the demo page at / and the dev endpoints /dev/token and
	// /dev/publish. Only for the embedded mode: /dev/token mints a token for any
	// user name, without authentication.
	Demo bool
	// Secret is the HS256 secret /dev/token signs with (auth.hmac_secret).
	// Required with Demo.
	Secret []byte
	// Publish appends to the ingress stream, e.g. (*streams.Publisher).Publish.
	// Required with Demo.
	Publish func(ctx context.Context, p streams.Publication) (string, error)
	// TokenTTL is the lifetime of a dev token. Default 1 h.
	TokenTTL time.Duration
	// MaxPayloadBytes bounds /dev/publish's data (limits.max_payload_bytes).
	// Default 64 KiB.
	MaxPayloadBytes int
	// Now is the clock of the dev tokens. Default time.Now.
	Now func() time.Time
}

// Routes are the path patterns Handler serves, for gateway.Deps.Routes: /herald.js
// always; with Demo also "/{$}" (the page, exactly /), "/demo/" (its assets) and
// "/dev/" (the dev endpoints).
func Routes(cfg Config) map[string]http.Handler {
	h := Handler(cfg)
	m := map[string]http.Handler{"/herald.js": h}
	if cfg.Demo {
		m["/{$}"] = h
		m["/demo/"] = h
		m["/dev/"] = h
	}
	return m
}

// Handler serves GET /herald.js and, with cfg.Demo, GET / (the demo page), GET
// /demo/* (its assets), POST /dev/token and POST /dev/publish. Other paths get 404.
// It panics when cfg.Demo is set without Secret or Publish.
func Handler(cfg Config) http.Handler {
	if cfg.Demo && (len(cfg.Secret) == 0 || cfg.Publish == nil) {
		panic("web: Config.Demo needs Secret and Publish")
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = time.Hour
	}
	if cfg.MaxPayloadBytes <= 0 {
		cfg.MaxPayloadBytes = 64 << 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	mux := http.NewServeMux()
	client := mustAsset("static/herald.js")
	client.cors = true // cross-origin pages import it as a module, which is a CORS fetch
	mux.Handle("GET /herald.js", client)
	if cfg.Demo {
		d := &dev{cfg: cfg}
		mux.Handle("GET /{$}", mustAsset("demo/index.html"))
		mux.Handle("GET /demo/demo.js", mustAsset("demo/demo.js"))
		mux.Handle("GET /demo/demo.css", mustAsset("demo/demo.css"))
		mux.Handle("POST /dev/token", loopbackOnly(http.HandlerFunc(d.token)))
		mux.Handle("POST /dev/publish", loopbackOnly(http.HandlerFunc(d.publish)))
	}
	return mux
}

// loopbackOnly keeps the dev endpoints to clients on this machine: /dev/token mints
// a token for any user, and the embedded mode listens on every interface.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			writeError(w, http.StatusForbidden, "the dev endpoints answer only clients on this machine")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// asset is one embedded file, served with an ETag so that browsers revalidate it
// cheaply and never run a stale client after an upgrade.
type asset struct {
	name  string
	body  []byte
	etag  string
	ctype string
	cors  bool
}

func mustAsset(name string) *asset {
	b, err := fs.ReadFile(files, name)
	if err != nil {
		panic(err) // embedded at build time: only a renamed file gets here
	}
	sum := sha256.Sum256(b)
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".js":
		ctype = "text/javascript; charset=utf-8" // mime's table depends on the host
	case ".html":
		ctype = "text/html; charset=utf-8"
	case ".css":
		ctype = "text/css; charset=utf-8"
	}
	return &asset{name: name, body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ctype}
}

func (a *asset) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if a.cors {
		h.Set("Access-Control-Allow-Origin", "*")
	}
	http.ServeContent(w, r, path.Base(a.name), time.Time{}, bytes.NewReader(a.body))
}

// dev serves the embedded mode's dev endpoints.
type dev struct {
	cfg Config
}

// tokenRequest is the body of POST /dev/token.
type tokenRequest struct {
	User   string `json:"user"`
	Device string `json:"device"`
}

func (d *dev) token(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	if !decode(w, r, 4096, &req) {
		return
	}
	if err := wire.ValidName(req.User); err != nil {
		writeError(w, http.StatusBadRequest, "bad user: "+err.Error())
		return
	}
	if req.Device != "" && wire.ValidName(req.Device) != nil {
		writeError(w, http.StatusBadRequest, "bad device: "+wire.ErrBadName.Error())
		return
	}
	now := d.cfg.Now()
	exp := now.Add(d.cfg.TokenTTL)
	tok, err := auth.Mint(d.cfg.Secret, auth.Claims{User: req.User, Device: req.Device, Expiry: exp}, now)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "user": req.User, "expires": exp.Unix()})
}

// publishRequest is the body of POST /dev/publish.
type publishRequest struct {
	To    string          `json:"to"`
	Topic string          `json:"topic"`
	Data  json.RawMessage `json:"data"`
	ID    string          `json:"id"`
	From  string          `json:"from"`
}

func (d *dev) publish(w http.ResponseWriter, r *http.Request) {
	var req publishRequest
	if !decode(w, r, int64(d.cfg.MaxPayloadBytes)+4096, &req) {
		return
	}
	if (req.To == "") == (req.Topic == "") {
		writeError(w, http.StatusBadRequest, `exactly one of "to" and "topic" is required`)
		return
	}
	for _, f := range []struct{ field, v string }{{"to", req.To}, {"topic", req.Topic}, {"from", req.From}} {
		if f.v != "" && wire.ValidName(f.v) != nil {
			writeError(w, http.StatusBadRequest, "bad "+f.field+": "+wire.ErrBadName.Error())
			return
		}
	}
	if len(req.Data) == 0 || string(req.Data) == "null" {
		writeError(w, http.StatusBadRequest, "missing data")
		return
	}
	id, err := d.cfg.Publish(r.Context(), streams.Publication{
		To: req.To, Topic: req.Topic, Data: req.Data, ID: req.ID, From: req.From,
	})
	var rej streams.Rejection
	switch {
	case errors.As(err, &rej):
		writeError(w, http.StatusBadRequest, rej.Error())
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "redis unavailable; nothing was written, retry later")
	default:
		writeJSON(w, http.StatusAccepted, map[string]string{"id": id})
	}
}

// decode reads one JSON object of at most limit bytes into v. It insists on a JSON
// content type: a cross-site form cannot send one without a CORS preflight, which
// this handler does not answer, so other sites cannot use the dev endpoints.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "send Content-Type: application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", tooBig.Limit))
			return false
		}
		writeError(w, http.StatusBadRequest, "body is not a JSON object of the expected fields: "+trim(err.Error()))
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "body has more than one JSON value")
		return false
	}
	return true
}

func trim(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return strings.TrimSpace(s)
}

func writeError(w http.ResponseWriter, status int, reason string) {
	writeJSON(w, status, map[string]string{"error": reason})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
