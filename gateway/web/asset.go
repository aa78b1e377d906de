package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

// files are the browser files, embedded at build time: nothing is built or read
// from disk at run time.
//
//go:embed static/herald.js static/herald-sw.js static/herald.d.ts static/package.json demo
var files embed.FS

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
