package api_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/api"
)

func TestBadInput(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		runAll(t, open, []namedTest{
			{"Table", testBadInputTable},
			{"SQLLookingValues", testSQLLookingValues},
		})
	})
}

// badCase is one malformed request. status 0 means "any 4xx", notServerErr
// "any status below 500"; field "" means the details need not name a field.
type badCase struct {
	name, method, path string
	body               any
	ctype              string // "" keeps application/json
	status             int
	code, field        string
}

const notServerErr = -1

func testBadInputTable(t *testing.T, f *fixture) {
	vera := f.users[bulwark.RoleViewer]
	long := func(n int, s string) string { return strings.Repeat(s, n) }
	cases := []badCase{
		// Malformed JSON: 400 invalid_request.
		{"login truncated", "POST", "/auth/login", raw(`{"username":"admin","password":"` + adminPassword + `"`), "", 400, "invalid_request", ""},
		{"login not json", "POST", "/auth/login", raw(`username=admin`), "", 400, "invalid_request", ""},
		{"login trailing garbage", "POST", "/auth/login", raw(`{"username":"a","password":"b"} x`), "", 400, "invalid_request", ""},
		{"login single quotes", "POST", "/auth/login", raw(`{'username':'admin'}`), "", 400, "invalid_request", ""},
		{"users truncated", "POST", "/users", raw(`{"username":`), "", 400, "invalid_request", ""},
		{"settings bare string", "PATCH", "/settings", raw(`"x"`), "", 422, "validation_failed", ""},
		{"deep nesting", "POST", "/tokens", raw(long(20000, "[")), "", 0, "", ""},
		{"empty body", "POST", "/auth/login", raw(``), "", 400, "invalid_request", ""},
		// Unknown fields and wrong types: 422 naming the field.
		{"login unknown field", "POST", "/auth/login", raw(`{"username":"admin","password":"x","remember":true}`), "", 422, "validation_failed", "remember"},
		{"login array", "POST", "/auth/login", raw(`[]`), "", 422, "validation_failed", ""},
		{"login null", "POST", "/auth/login", raw(`null`), "", 0, "", ""},
		{"login number username", "POST", "/auth/login", raw(`{"username":1,"password":"x"}`), "", 422, "validation_failed", "username"},
		{"login object password", "POST", "/auth/login", raw(`{"username":"admin","password":{"$ne":null}}`), "", 422, "validation_failed", "password"},
		{"users role number", "POST", "/users", raw(`{"username":"bob","role":1}`), "", 422, "validation_failed", "role"},
		{"users flag string", "POST", "/users", raw(`{"username":"bob","role":"viewer","must_change_password":"no"}`), "", 422, "validation_failed", "must_change_password"},
		{"users id field", "POST", "/users", raw(`{"username":"bob","role":"viewer","id":1}`), "", 422, "validation_failed", "id"},
		{"users huge number", "POST", "/tokens", raw(`{"name":"x","expires_in_days":1e400}`), "", 0, "", ""},
		// Over-long strings.
		{"login username 65", "POST", "/auth/login", loginBody(long(65, "a"), "x"), "", 422, "validation_failed", "username"},
		{"login password 257", "POST", "/auth/login", loginBody("admin", long(257, "p")), "", 422, "validation_failed", "password"},
		{"users username 65", "POST", "/users", map[string]any{"username": long(65, "u"), "role": "viewer"}, "", 422, "validation_failed", "username"},
		{"users password 257", "POST", "/users", map[string]any{"username": "bob", "role": "viewer", "password": long(257, "p")}, "", 422, "validation_failed", "password"},
		{"users display 129 runes", "POST", "/users", map[string]any{"username": "bob", "role": "viewer", "display_name": long(129, "ß")}, "", 422, "validation_failed", "display_name"},
		{"patch display 129 runes", "PATCH", idPath("/users/%d", vera.ID), map[string]any{"display_name": long(129, "ß")}, "", 422, "validation_failed", "display_name"},
		{"password change 257", "POST", "/auth/password", map[string]any{"current_password": "x", "new_password": long(257, "p")}, "", 422, "validation_failed", "new_password"},
		{"reset 257", "POST", idPath("/users/%d/password", vera.ID), map[string]any{"new_password": long(257, "p")}, "", 422, "validation_failed", "new_password"},
		{"token name 101", "POST", "/tokens", map[string]any{"name": long(101, "n")}, "", 422, "validation_failed", "name"},
		// Control characters.
		{"display name NUL", "PATCH", idPath("/users/%d", vera.ID), map[string]any{"display_name": "a\x00b"}, "", 422, "validation_failed", "display_name"},
		{"token name NUL", "POST", "/tokens", map[string]any{"name": "a\x00b"}, "", 422, "validation_failed", "name"},
		{"login password NUL", "POST", "/auth/login", loginBody("vera", "\x00"), "", 401, "unauthenticated", ""},
		{"login invalid UTF-8", "POST", "/auth/login", raw("{\"username\":\"\xff\xfe\",\"password\":\"x\"}"), "", notServerErr, "", ""},
		{"audit q NUL", "GET", "/audit?q=%00", nil, "", notServerErr, "", ""},
		// Not JSON at all.
		{"text/plain", "POST", "/auth/login", raw(`{"username":"admin","password":"x"}`), "text/plain", 415, "unsupported_media_type", ""},
		{"form post", "POST", "/auth/login", raw(url.Values{"username": {"admin"}, "password": {adminPassword}}.Encode()), "application/x-www-form-urlencoded", 415, "unsupported_media_type", ""},
		{"multipart", "POST", "/users", raw("--b\r\n\r\nx\r\n--b--"), "multipart/form-data; boundary=b", 415, "unsupported_media_type", ""},
		{"xml", "PATCH", "/settings", raw(`<settings/>`), "application/xml", 415, "unsupported_media_type", ""},
		// Paths (unknown routes: see TestUnknownRouteErrorShape).
		{"user id not a number", "GET", "/users/abc", nil, "", 422, "validation_failed", "id"},
		{"user id overflow", "GET", "/users/99999999999999999999", nil, "", 422, "validation_failed", "id"},
		{"user id sql", "GET", "/users/" + url.PathEscape("1 OR 1=1"), nil, "", 422, "validation_failed", "id"},
	}
	before, _ := f.db.ListUsers(t.Context())
	tokensBefore, _ := f.db.ListAPITokens(t.Context(), 0)
	for _, tc := range cases {
		var mods []mod
		if tc.ctype != "" {
			mods = append(mods, header("Content-Type", tc.ctype))
		}
		r := f.admin.do(tc.method, tc.path, tc.body, mods...)
		switch {
		case tc.status == notServerErr && r.Status >= 500:
			t.Errorf("%s: status %d, want < 500: %s", tc.name, r.Status, r.Raw)
		case tc.status == 0 && (r.Status < 400 || r.Status >= 500):
			t.Errorf("%s: status %d, want 4xx: %s", tc.name, r.Status, r.Raw)
		case tc.status > 0 && r.Status != tc.status:
			t.Errorf("%s: status %d, want %d: %s", tc.name, r.Status, tc.status, r.Raw)
		case tc.code != "" && r.code() != tc.code:
			t.Errorf("%s: code %q, want %q: %s", tc.name, r.code(), tc.code, r.Raw)
		case tc.field != "" && !containsStr(r.fields(), tc.field):
			t.Errorf("%s: details %v do not name %q: %s", tc.name, r.fields(), tc.field, r.Raw)
		}
	}
	// Nothing changed.
	after, _ := f.db.ListUsers(t.Context())
	if len(after) != len(before) {
		t.Errorf("users %d → %d", len(before), len(after))
	}
	for i := range min(len(before), len(after)) {
		b, a := before[i], after[i]
		if a.ID != b.ID || a.Email != b.Email || a.DisplayName != b.DisplayName || a.Role != b.Role || a.PasswordHash != b.PasswordHash {
			t.Errorf("user %s changed", b.Username)
		}
	}
	if tokensAfter, _ := f.db.ListAPITokens(t.Context(), 0); len(tokensAfter) != len(tokensBefore) {
		t.Errorf("tokens %d → %d", len(tokensBefore), len(tokensAfter))
	}
	if s, _ := f.db.GetSettings(t.Context()); len(s) != 0 {
		t.Errorf("settings stored: %v", s)
	}
}

// TestNULBytes: a NUL byte in a login name or an audit filter is bad input
// (4xx or an empty result), never a 500 — PostgreSQL rejects NUL in text
// parameters, so it must be caught before the query. A login name with a NUL
// must also not be recorded as another user's name (the audit store strips
// NULs, so "ad\x00min" would read as a failed login of "admin").
func TestNULBytes(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		f := newFixture(t, withStore(open))
		mark := f.auditMark()
		for _, tc := range []struct {
			method, path string
			body         any
		}{
			{"POST", "/auth/login", loginBody("ad\x00min", "Wrong-password-1")},
			{"GET", "/audit?actor=%00", nil},
			{"GET", "/audit?action=auth.%00", nil},
			{"GET", "/audit?resource_id=%00", nil},
			{"GET", "/audit?resource_type=%00", nil},
		} {
			if r := f.admin.do(tc.method, tc.path, tc.body); r.Status >= 500 {
				t.Errorf("%s %s with a NUL byte: status %d", tc.method, tc.path, r.Status)
			}
		}
		for _, a := range f.auditAfter(mark) {
			if a.Actor == "admin" {
				t.Errorf("a login as \"ad\\x00min\" was audited as actor %q: %+v", a.Actor, a)
			}
		}
	})
}

// TestEmailControlCharacters: an e-mail address with a NUL or other control
// character is invalid input (422), never stored (and on PostgreSQL it must
// not become a 500).
func TestEmailControlCharacters(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		f := newFixture(t, withStore(open))
		vera := f.users[bulwark.RoleViewer]
		for _, email := range []string{"bob\x00@example.com", "bob\x01@example.com", "bob@exa\x7fmple.com"} {
			for _, r := range []*response{
				f.admin.do("POST", "/users", map[string]any{"username": "bob", "role": "viewer", "email": email}),
				f.admin.do("PATCH", idPath("/users/%d", vera.ID), map[string]any{"email": email}),
			} {
				if r.Status != 422 || !containsStr(r.fields(), "email") {
					t.Errorf("%s %s email %q: status %d, want 422 naming email: %s", r.method, r.path, email, r.Status, r.Raw)
				}
			}
			if u, err := f.db.GetUserByUsername(t.Context(), "bob"); err == nil {
				_ = f.db.DeleteUser(t.Context(), u.ID)
			}
		}
	})
}

// TestUnknownRouteErrorShape: unknown paths and methods under /api/v1 answer
// with the API's JSON error body like every other error.
func TestUnknownRouteErrorShape(t *testing.T) {
	f := newFixture(t)
	f.admin.do("GET", "/nope", nil).wantErr(t, 404, "not_found")
	f.anon().do("GET", "/users/1/nope", nil).wantErr(t, 404, "not_found")
	r := f.admin.do("PUT", "/settings", raw(`{}`))
	if r.Status != 405 && r.Status != 404 || r.code() == "" {
		t.Errorf("PUT /settings: %d %s", r.Status, r.Raw)
	}
}

// TestMissingFieldNamed: a required field that is absent is a 422 whose
// details name the field, like every other invalid field.
func TestMissingFieldNamed(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ path, body, field string }{
		{"/auth/login", `{"password":"x"}`, "username"},
		{"/users", `{"username":"bob"}`, "role"},
		{"/tokens", `{}`, "name"},
		{"/auth/password", `{"current_password":"x"}`, "new_password"},
	} {
		r := f.admin.do("POST", tc.path, raw(tc.body))
		if r.Status != 422 || !containsStr(r.fields(), tc.field) {
			t.Errorf("POST %s %s: status %d details %v, want 422 naming %q: %s", tc.path, tc.body, r.Status, r.fields(), tc.field, r.Raw)
		}
	}
}

func testSQLLookingValues(t *testing.T, f *fixture) {
	inj := []string{`admin'--`, `x'); DROP TABLE users;--`, `' OR '1'='1`, `admin" OR ""="`, `1; DELETE FROM audit_log`, `%' OR 1=1 --`}
	// As query parameters: an ordinary (empty) search.
	for _, s := range inj {
		for _, p := range []string{"actor", "action", "q", "resource_id", "resource_type"} {
			if len(s) > 32 && p == "resource_type" {
				continue
			}
			if r := f.admin.do("GET", "/audit?"+url.Values{p: {s}}.Encode(), nil).want(t, 200); r.num("total") != 0 {
				t.Errorf("audit %s=%q matched %d entries", p, s, r.num("total"))
			}
		}
		f.admin.do("GET", "/audit?"+url.Values{"result": {s}}.Encode(), nil).wantErr(t, 422, "validation_failed", "result")
		f.admin.do("GET", "/tokens?"+url.Values{"all": {s}}.Encode(), nil).wantErr(t, 422, "validation_failed", "all")
	}
	f.admin.do("PATCH", "/settings", map[string]any{"login_max_failures": 100}).want(t, 200) // many failed logins follow
	for _, s := range inj {
		// As a login name: just a failed login.
		f.anon().do("POST", "/auth/login", loginBody(s, adminPassword)).wantErr(t, 401, "unauthenticated")
		f.anon().do("POST", "/auth/login", loginBody("admin", s)).wantErr(t, 401, "unauthenticated")
		// As a username or e-mail: refused by validation.
		f.admin.do("POST", "/users", map[string]any{"username": s, "role": "viewer"}).wantErr(t, 422, "validation_failed", "username")
		f.admin.do("POST", "/users", map[string]any{"username": "bob", "role": "viewer", "email": s}).wantErr(t, 422, "validation_failed", "email")
		f.admin.do("POST", "/users", map[string]any{"username": "bob", "role": s}).wantErr(t, 422, "validation_failed", "role")
	}
	// The tried login names are recorded verbatim in the audit log and searchable.
	r := f.admin.do("GET", "/audit?"+url.Values{"actor": {`x'); drop table users;--`}}.Encode(), nil).want(t, 200)
	if r.num("total") != 1 || r.str("items", 0, "action") != "auth.login" {
		t.Errorf("audit for the injected login name: %s", r.Raw)
	}
	// Where free text is valid, it is stored verbatim.
	vera := f.users[bulwark.RoleViewer]
	dn := `x'); DROP TABLE users;-- <script>alert(1)</script> 100% _`
	f.admin.do("PATCH", idPath("/users/%d", vera.ID), map[string]any{"display_name": dn}).want(t, 200)
	if got := f.admin.do("GET", idPath("/users/%d", vera.ID), nil).want(t, 200).str("display_name"); got != dn {
		t.Errorf("display_name stored as %q", got)
	}
	f.admin.do("POST", "/users", map[string]any{"username": "o.brien-x_y@corp", "role": "viewer", "display_name": `Robert'); DROP TABLE students;--`}).want(t, 201)
	tok, _ := f.admin.createToken(t, map[string]any{"name": `tok'); DROP TABLE api_tokens;--`})
	f.admin.do("PATCH", "/settings", map[string]any{"organization_name": `Acme'; DROP TABLE settings;--`}).want(t, 200)
	// Everything is intact.
	if n, err := f.db.CountUsers(t.Context()); err != nil || n != 4 {
		t.Errorf("users table: %d users, %v", n, err)
	}
	f.login("admin", adminPassword)
	f.bearerClient(tok).do("GET", "/auth/me", nil).want(t, 200)
	if s := getSettings(t, f.admin); s.OrganizationName != `Acme'; DROP TABLE settings;--` {
		t.Errorf("settings: %+v", s)
	}
	if l := f.admin.do("GET", "/audit?limit=1", nil).want(t, 200); l.num("total") < 10 {
		t.Errorf("audit log: %s", l.Raw)
	}
}

func TestBodyTooLarge(t *testing.T) {
	f := newFixture(t, withAPI(func(o *api.Options) { o.MaxBodyBytes = 256 }))
	big := map[string]any{"username": "admin", "password": adminPassword, "pad": strings.Repeat("x", 1024)}
	f.anon().do("POST", "/auth/login", big).wantErr(t, 413, "body_too_large")
	f.admin.do("POST", "/users", map[string]any{"username": "bob", "role": "viewer", "display_name": strings.Repeat("x", 300)}).
		wantErr(t, 413, "body_too_large")
	f.admin.do("PATCH", "/settings", raw(`{"organization_name":"`+strings.Repeat("x", 100000)+`"}`)).wantErr(t, 413, "body_too_large")
	if n, _ := f.db.CountUsers(t.Context()); n != 3 {
		t.Errorf("users: %d", n)
	}
	// Small bodies still work.
	f.admin.do("POST", "/users", map[string]any{"username": "bob", "role": "viewer"}).want(t, 201)
	// The default limit is 1 MiB.
	g := newFixture(t)
	g.anon().do("POST", "/auth/login", raw(`{"username":"admin","password":"`+strings.Repeat("x", 1<<20)+`"}`)).wantErr(t, 413, "body_too_large")
}

// TestSecretsNeverLeak walks every readable endpoint after creating users,
// tokens and passwords; the harness fails any response holding a hash,
// password or token (registered with f.secret), and the stored audit log
// and events are scanned too.
func TestSecretsNeverLeak(t *testing.T) {
	f := newFixture(t)
	otto := f.users[bulwark.RoleOperator]
	oc := f.loginAs(otto)
	oc.createToken(t, map[string]any{"name": "leak-check"})
	f.admin.createToken(t, map[string]any{"name": "admin-leak-check", "expires_in_days": 3})
	r := f.admin.do("POST", "/users", map[string]any{"username": "gen", "role": "operator"}).want(t, 201)
	f.setPassword("gen", r.str("initial_password"))
	chosen := "Chosen-reset-passphrase-31"
	f.secret(chosen)
	f.admin.do("POST", idPath("/users/%d/password", otto.ID), map[string]any{"new_password": chosen}).want(t, 200)
	f.setPassword("otto", chosen)
	oc = f.login("otto", chosen)
	oc.do("POST", "/auth/password", map[string]any{"current_password": chosen, "new_password": "Otto-own-passphrase-99"}).want(t, 204)
	f.setPassword("otto", "Otto-own-passphrase-99")
	oc.do("POST", "/auth/password", map[string]any{"current_password": "Otto-own-passphrase-99", "new_password": adminPassword}).want(t, 204)
	f.secret("Guess-" + adminPassword)
	f.anon().do("POST", "/auth/login", loginBody("otto", "Guess-"+adminPassword)).wantErr(t, 401, "unauthenticated")

	tc := f.tokenClient(f.adminUser)
	for _, c := range []*client{f.admin, tc} {
		for _, p := range []string{"/users", idPath("/users/%d", otto.ID), "/auth/me", "/tokens", "/tokens?all=true",
			"/audit?limit=500", "/audit?q=password", "/settings", "/system", "/health", "/openapi.json"} {
			c.do("GET", p, nil).want(t, 200)
		}
	}
	for _, a := range f.auditAfter(0) {
		tc.do("GET", idPath("/audit/%d", a.ID), nil).want(t, 200)
	}
	f.assertStoredSecretFree(t)
}
