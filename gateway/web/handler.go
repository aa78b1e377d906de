package web

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/streams"
)

// Config configures Handler.
type Config struct {
	// Demo serves the demo page at / and the dev endpoints /dev/token and
	// /dev/publish. Only for the embedded mode: /dev/token mints a token for any
	// user name, without authentication.
	Demo bool
	// Secret is the HS256 secret /dev/token signs with (auth.hmac_secret).
	// Required with Demo.
	Secret []byte
	// Mint are the iss and aud that /dev/token puts in its tokens, so that they
	// pass a node configured with auth.issuer or auth.audience.
	Mint auth.MintOptions
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
// and /herald-sw.js always; with Demo also "/{$}" (the page, exactly /), "/demo/" (its assets) and
// "/dev/" (the dev endpoints).
func Routes(cfg Config) map[string]http.Handler {
	h := Handler(cfg)
	m := map[string]http.Handler{"/herald.js": h, "/herald-sw.js": h}
	if cfg.Demo {
		m["/{$}"] = h
		m["/demo/"] = h
		m["/dev/"] = h
	}
	return m
}

// Handler serves GET /herald.js, GET /herald-sw.js (the sample service worker
// that shows Web Push notifications) and, with cfg.Demo, GET / (the demo page), GET
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
	// Same origin as the page only, as browsers require of a service worker: no CORS.
	mux.Handle("GET /herald-sw.js", mustAsset("static/herald-sw.js"))
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
