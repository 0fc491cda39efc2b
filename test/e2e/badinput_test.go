package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestBadInput sends malformed requests through the real binary: each gets
// a 4xx with the one error shape {"error":{"code","message"}}.
func TestBadInput(t *testing.T) {
	t.Parallel()
	s := startServer(t, "bad-input", serveOpts{args: []string{"--data-dir", newDataDir(t), "--listen", "127.0.0.1:0"}})
	anon := newClient(t, s.URL, nil)
	admin := newClient(t, s.URL, nil)
	pw := s.adminPassword()
	admin.login("admin", pw)
	admin.changePassword(pw, strongPassword())

	huge := `{"username":"` + strings.Repeat("a", 1<<20) + `","password":"x"}`
	tests := []struct {
		name   string
		c      *client
		method string
		path   string
		body   any
		hdr    http.Header
		status int
		code   string
		msg    string // fragment of the message, optional
	}{
		{"bad JSON", anon, "POST", "/api/v1/auth/login", `{"username": "admin", `, nil, 400, "invalid_request", "JSON"},
		{"not JSON at all", anon, "POST", "/api/v1/auth/login", `username=admin&password=x`, nil, 400, "invalid_request", ""},
		{"unknown field", anon, "POST", "/api/v1/auth/login", `{"username":"admin","password":"x","remember_me":true}`, nil, 422, "validation_failed", "remember_me"},
		{"wrong type", anon, "POST", "/api/v1/auth/login", `{"username":5,"password":"x"}`, nil, 422, "validation_failed", "username"},
		{"missing field", anon, "POST", "/api/v1/auth/login", `{"username":"admin"}`, nil, 422, "validation_failed", "password"},
		{"huge body (login)", anon, "POST", "/api/v1/auth/login", huge, nil, 413, "body_too_large", ""},
		{"huge body (authenticated)", admin, "POST", "/api/v1/users", huge, nil, 413, "body_too_large", ""},
		{"bad enum", admin, "POST", "/api/v1/users", `{"username":"dave","role":"root"}`, nil, 422, "validation_failed", "role"},
		{"bad username", admin, "POST", "/api/v1/users", `{"username":"Dave Smith!","role":"viewer"}`, nil, 422, "validation_failed", "username"},
		{"weak initial password", admin, "POST", "/api/v1/users", `{"username":"dave","role":"viewer","password":"short"}`, nil, 422, "validation_failed", "12 characters"},
		{"query out of range", admin, "GET", "/api/v1/audit?limit=100000", nil, nil, 422, "validation_failed", "limit"},
		{"path not a number", admin, "GET", "/api/v1/users/abc", nil, nil, 422, "validation_failed", "id"},
		{"missing user", admin, "GET", "/api/v1/users/999999", nil, nil, 404, "not_found", "999999"},
		{"not signed in", anon, "GET", "/api/v1/users", nil, nil, 401, "unauthenticated", ""},
		{"basic auth", anon, "GET", "/api/v1/auth/me", nil, http.Header{"Authorization": {"Basic YWRtaW46eA=="}}, 401, "unauthenticated", "Bearer"},
		{"bogus token", anon, "GET", "/api/v1/auth/me", nil, http.Header{"Authorization": {"Bearer bwk_" + strings.Repeat("z", 40)}}, 401, "unauthenticated", ""},
		{"no CSRF header", admin, "POST", "/api/v1/tokens", `{"name":"x"}`, http.Header{"X-Csrf-Token": {""}}, 403, "csrf_failed", "X-CSRF-Token"},
		{"cross-origin", admin, "POST", "/api/v1/tokens", `{"name":"x"}`, http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}, 403, "forbidden", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.c.doWith(tc.method, tc.path, tc.body, tc.hdr)
			e := r.expectError(t, tc.status, tc.code)
			if tc.msg != "" && !strings.Contains(e.Error.Message, tc.msg) {
				t.Errorf("%s: message does not mention %q", r, tc.msg)
			}
			if len(r.Body) > 64<<10 {
				t.Errorf("%s: error body is %d bytes; the input must not be echoed", r.req, len(r.Body))
			}
		})
	}

	// The server is still fine, and none of that created anything.
	var users userList
	admin.do(http.MethodGet, "/api/v1/users", nil).expect(t, http.StatusOK, &users)
	if users.Total != 1 {
		t.Errorf("%d users after bad requests, want 1", users.Total)
	}
	s.stop()
}

// TestAPIUnknownRouteErrorShape: a path under /api/v1 that names no
// operation, or an operation with the wrong method, gets the same JSON error
// shape as every other API error (not net/http's text/plain body).
func TestAPIUnknownRouteErrorShape(t *testing.T) {
	t.Parallel()
	s := startServer(t, "unknown-route", serveOpts{args: []string{"--data-dir", newDataDir(t), "--listen", "127.0.0.1:0"}})
	c := newClient(t, s.URL, nil)
	t.Run("unknown path", func(t *testing.T) {
		c.do(http.MethodGet, "/api/v1/no-such-thing", nil).expectError(t, http.StatusNotFound, "not_found")
	})
	t.Run("wrong method", func(t *testing.T) {
		r := c.do(http.MethodDelete, "/api/v1/auth/me", nil)
		r.expectError(t, http.StatusMethodNotAllowed, "method_not_allowed")
		if r.Header.Get("Allow") == "" {
			t.Errorf("405 without an Allow header")
		}
	})
	s.stop()
}
