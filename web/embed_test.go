package web_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bulwarkhq/bulwark/web"
)

func get(t *testing.T, h http.Handler, method, path string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var testFS = fstest.MapFS{
	"index.html":              {Data: []byte(`<!doctype html><title>Bulwark</title><script type="module" src="/assets/index-abc123.js"></script>`)},
	"favicon.svg":             {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`)},
	"assets/index-abc123.js":  {Data: []byte(`console.log(1)`)},
	"assets/style-def456.css": {Data: []byte(`body{}`)},
}

func TestHeadersAndFallback(t *testing.T) {
	h := web.NewHandler(testFS)
	for _, tc := range []struct {
		path, ct, cache, contains string
		status                    int
	}{
		{"/", "text/html; charset=utf-8", "no-cache", "<title>Bulwark", 200},
		{"/index.html", "text/html; charset=utf-8", "no-cache", "<title>Bulwark", 200},
		{"/access/users", "text/html; charset=utf-8", "no-cache", "<title>Bulwark", 200}, // client route
		{"/audit?offset=25", "text/html; charset=utf-8", "no-cache", "<title>Bulwark", 200},
		{"/assets/index-abc123.js", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "console.log", 200},
		{"/assets/style-def456.css", "text/css; charset=utf-8", "public, max-age=31536000, immutable", "body{}", 200},
		{"/favicon.svg", "image/svg+xml", "no-cache", "<svg", 200},
		{"/assets/missing-000.js", "", "no-store", "not found", 404},
		{"/assets/", "", "no-store", "not found", 404},
		{"/robots.txt", "", "no-store", "not found", 404},
	} {
		r := get(t, h, http.MethodGet, tc.path)
		b := body(t, r)
		if r.StatusCode != tc.status || !strings.Contains(b, tc.contains) {
			t.Errorf("%s: %d %q", tc.path, r.StatusCode, b)
		}
		if tc.ct != "" && r.Header.Get("Content-Type") != tc.ct {
			t.Errorf("%s: Content-Type %q, want %q", tc.path, r.Header.Get("Content-Type"), tc.ct)
		}
		if got := r.Header.Get("Cache-Control"); got != tc.cache {
			t.Errorf("%s: Cache-Control %q, want %q", tc.path, got, tc.cache)
		}
		if r.Header.Get("Content-Security-Policy") != web.CSP {
			t.Errorf("%s: CSP %q", tc.path, r.Header.Get("Content-Security-Policy"))
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", tc.path)
		}
	}

	// Revalidation with the ETag.
	r := get(t, h, http.MethodGet, "/")
	etag := r.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if r := get(t, h, http.MethodGet, "/audit", "If-None-Match", etag); r.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", r.StatusCode)
	}
	if r := get(t, h, http.MethodHead, "/"); r.StatusCode != 200 || body(t, r) != "" {
		t.Errorf("HEAD: %d", r.StatusCode)
	}
	if r := get(t, h, http.MethodPost, "/"); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", r.StatusCode)
	}
}

func TestCSPIsStrict(t *testing.T) {
	for _, d := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
		"connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
		if !strings.Contains(web.CSP, d+";") && !strings.HasSuffix(web.CSP, d) {
			t.Errorf("CSP lacks %q", d)
		}
	}
	if strings.Contains(web.CSP, "unsafe") {
		t.Errorf("CSP allows unsafe sources: %s", web.CSP)
	}
}

// The committed build must work under the CSP: no inline scripts or styles,
// every referenced asset embedded with a content hash in its name.
func TestEmbeddedBuild(t *testing.T) {
	h := web.Handler()
	r := get(t, h, http.MethodGet, "/")
	if r.StatusCode != 200 {
		t.Fatalf("index: %d", r.StatusCode)
	}
	idx := body(t, r)
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(idx) || strings.Contains(idx, "<style") || strings.Contains(idx, "style=") {
		t.Errorf("index.html has inline script or style:\n%s", idx)
	}
	refs := regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`).FindAllStringSubmatch(idx, -1)
	if len(refs) < 2 {
		t.Fatalf("index.html references %d assets", len(refs))
	}
	hashed := regexp.MustCompile(`^/assets/[\w.-]+-[\w-]{8}\.(js|css)$`)
	for _, m := range refs {
		if !hashed.MatchString(m[1]) {
			t.Errorf("asset %s has no content hash", m[1])
		}
		r := get(t, h, http.MethodGet, m[1])
		if r.StatusCode != 200 || r.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("%s: %d %q", m[1], r.StatusCode, r.Header.Get("Cache-Control"))
		}
	}
	if r := get(t, h, http.MethodGet, "/access/users"); r.StatusCode != 200 || body(t, r) != idx {
		t.Errorf("SPA fallback does not serve index.html")
	}
}

var _ fs.FS = testFS
