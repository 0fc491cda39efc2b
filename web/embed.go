// Package web serves the admin console: the Vue single-page application
// built into dist/ (committed, so that go build needs no Node) and embedded
// in the binary.
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
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

// CSP is the Content-Security-Policy of every console response. The build
// has no inline scripts or styles, so none are allowed.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Cache policies: hashed assets never change under their name; everything
// else is revalidated so a new release shows up at once.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheRevalid   = "no-cache"
)

type file struct {
	body []byte
	etag string
	ct   string
}

// Handler serves the console from the embedded build.
func Handler() http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err)
	}
	return NewHandler(sub)
}

// NewHandler serves a built console from fsys: files as they are, /assets/
// with immutable caching (unknown ones are 404), and index.html for every
// other path without a file extension, so client-side routes survive a reload.
func NewHandler(fsys fs.FS) http.Handler {
	files := map[string]*file{}
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = http.DetectContentType(b)
		}
		files["/"+p] = &file{body: b, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, ct: ct}
		return nil
	})
	index := files["/index.html"]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := path.Clean("/" + r.URL.Path)
		f, ok := files[p]
		cache := cacheRevalid
		assets := p == "/assets" || strings.HasPrefix(p, "/assets/")
		switch {
		case p == "/index.html":
		case ok && assets:
			cache = cacheImmutable
		case ok:
		case assets || path.Ext(p) != "":
			h.Set("Cache-Control", "no-store")
			http.Error(w, "not found", http.StatusNotFound)
			return
		default: // "/", "/index.html" and client-side routes
			f = index
		}
		if f == nil {
			http.Error(w, "the console is not built: run make web", http.StatusNotFound)
			return
		}
		h.Set("Cache-Control", cache)
		h.Set("Content-Type", f.ct)
		h.Set("ETag", f.etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
	})
}
