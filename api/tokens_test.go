package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
)

func TestTokens(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		runAll(t, open, []namedTest{
			{"Lifecycle", testTokenLifecycle},
			{"Expiry", testTokenExpiry},
			{"Ownership", testTokenOwnership},
			{"DisabledOwner", testTokenDisabledOwner},
			{"AuthorizationHeader", testAuthorizationHeader},
			{"Invalid", testTokenInvalid},
		})
	})
}

// createToken creates a token through the API and registers it as a secret
// for every later response.
func (c *client) createToken(t testing.TB, body map[string]any) (string, *response) {
	t.Helper()
	r := c.do("POST", "/tokens", body).want(t, 201)
	tok := r.str("token")
	if !strings.HasPrefix(tok, "bwk_") || len(tok) != len("bwk_")+43 {
		t.Fatalf("token %q does not look like bwk_<43 base62>", tok)
	}
	c.e.secret(tok)
	c.e.secret(auth.TokenHash(tok))
	return tok, r
}

func testTokenLifecycle(t *testing.T, f *fixture) {
	otto := f.users[bulwark.RoleOperator]
	c := f.loginAs(otto)
	tok, r := c.createToken(t, map[string]any{"name": "  ci pipeline  "})
	id := r.num("api_token", "id")
	if r.str("api_token", "name") != "ci pipeline" || !strings.HasPrefix(tok, r.str("api_token", "prefix")) ||
		len(r.str("api_token", "prefix")) < len("bwk_")+1 || r.get("api_token", "active") != true || r.get("api_token", "expires_at") != nil ||
		r.num("api_token", "user_id") != otto.ID {
		t.Errorf("create: %s", r.Raw)
	}
	// Stored hashed: the database has the hash, never the token.
	stored, err := f.db.GetAPIToken(t.Context(), id)
	if err != nil || stored.Hash != auth.TokenHash(tok) || strings.Contains(stored.Hash+stored.Prefix+stored.Name, tok) {
		t.Errorf("stored token: %+v %v", stored, err)
	}
	// Listing never shows the secret (the harness checks every response for it).
	l := c.do("GET", "/tokens", nil).want(t, 200)
	if l.num("total") != 1 || l.num("items", 0, "id") != id || l.str("items", 0, "username") != "otto" {
		t.Errorf("list: %s", l.Raw)
	}
	f.admin.do("GET", "/tokens?all=true", nil).want(t, 200)
	// Use it.
	b := f.bearerClient(tok)
	me := b.do("GET", "/auth/me", nil).want(t, 200)
	if me.str("auth_method") != "token" || me.str("user", "username") != "otto" || me.get("csrf_token") != nil {
		t.Errorf("me with a token: %s", me.Raw)
	}
	b.do("POST", "/tokens", map[string]any{"name": "made by token"}).want(t, 201)
	if l := c.do("GET", "/tokens", nil); l.list("items")[1].(map[string]any)["last_used_at"] == nil {
		t.Errorf("last_used_at not recorded: %s", l.Raw)
	}
	// Revoke: 204, then the token is refused; revoking again is harmless.
	c.do("DELETE", idPath("/tokens/%d", id), nil).want(t, 204)
	r = b.do("GET", "/auth/me", nil).wantErr(t, 401, "unauthenticated")
	if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 for a bad token without WWW-Authenticate: %v", r.Header)
	}
	mark := f.auditMark()
	c.do("DELETE", idPath("/tokens/%d", id), nil).want(t, 204)
	if rows := f.auditAfter(mark); len(rows) != 0 {
		t.Errorf("revoking twice wrote audit rows: %+v", rows)
	}
	l = c.do("GET", "/tokens", nil).want(t, 200)
	for _, it := range l.list("items") {
		m := it.(map[string]any)
		if int64(m["id"].(float64)) == id && (m["active"] != false || m["revoked_at"] == nil) {
			t.Errorf("revoked token listed as active: %v", m)
		}
	}
}

func testTokenExpiry(t *testing.T, f *fixture) {
	c := f.loginAs(f.users[bulwark.RoleOperator])
	days, r := c.createToken(t, map[string]any{"name": "one day", "expires_in_days": 1})
	if exp, _ := time.Parse(time.RFC3339, r.str("api_token", "expires_at")); !exp.Equal(f.clock.Now().Add(24 * time.Hour)) {
		t.Errorf("expires_at %s, want now+24h", r.str("api_token", "expires_at"))
	}
	at := f.clock.Now().Add(time.Hour)
	hour, _ := c.createToken(t, map[string]any{"name": "one hour", "expires_at": at.Format(time.RFC3339)})
	forever, _ := c.createToken(t, map[string]any{"name": "forever", "expires_in_days": 0})

	f.clock.Advance(59 * time.Minute)
	me := f.bearerClient(hour).do("GET", "/auth/me", nil).want(t, 200)
	if exp, _ := time.Parse(time.RFC3339, me.str("expires_at")); !exp.Equal(at) {
		t.Errorf("me.expires_at %s, want %s", me.str("expires_at"), at)
	}
	f.clock.Advance(time.Minute)
	f.bearerClient(hour).do("GET", "/auth/me", nil).wantErr(t, 401, "unauthenticated")
	f.bearerClient(days).do("GET", "/auth/me", nil).want(t, 200)
	f.clock.Advance(23 * time.Hour)
	f.bearerClient(days).do("GET", "/auth/me", nil).wantErr(t, 401, "unauthenticated")
	f.clock.Advance(10 * 365 * 24 * time.Hour)
	f.bearerClient(forever).do("GET", "/auth/me", nil).want(t, 200)
}

func testTokenOwnership(t *testing.T, f *fixture) {
	otto := f.loginAs(f.users[bulwark.RoleOperator])
	op2u := f.createUser("opal", bulwark.RoleOperator)
	opal := f.loginAs(op2u)
	tok, r := opal.createToken(t, map[string]any{"name": "opal's"})
	id := r.num("api_token", "id")
	// Another operator sees neither the token nor that it exists.
	if l := otto.do("GET", "/tokens", nil).want(t, 200); l.num("total") != 0 {
		t.Errorf("otto sees opal's tokens: %s", l.Raw)
	}
	otto.do("DELETE", idPath("/tokens/%d", id), nil).wantErr(t, 404, "not_found")
	f.bearerClient(tok).do("GET", "/auth/me", nil).want(t, 200)
	// all=true is for admins; they see everyone's tokens with usernames, and can revoke them.
	otto.do("GET", "/tokens?all=true", nil).wantErr(t, 403, "forbidden")
	all := f.admin.do("GET", "/tokens?all=true", nil).want(t, 200)
	found := false
	for _, it := range all.list("items") {
		m := it.(map[string]any)
		if int64(m["id"].(float64)) == id {
			found = m["username"] == "opal"
		}
	}
	if !found {
		t.Errorf("admin list all lacks opal's token with username: %s", all.Raw)
	}
	if mine := f.admin.do("GET", "/tokens", nil).want(t, 200); mine.num("total") != 0 {
		t.Errorf("admin's own list includes others' tokens: %s", mine.Raw)
	}
	mark := f.auditMark()
	f.admin.do("DELETE", idPath("/tokens/%d", id), nil).want(t, 204)
	rows := f.auditAfter(mark)
	if len(rows) != 1 || rows[0].Action != "token.revoke" || rows[0].Actor != "admin" || rows[0].Details["owner_id"] != float64(op2u.ID) {
		t.Errorf("admin revoke audit: %+v", rows)
	}
	f.bearerClient(tok).do("GET", "/auth/me", nil).wantErr(t, 401, "unauthenticated")
	f.admin.do("DELETE", "/tokens/987654", nil).wantErr(t, 404, "not_found")
}

func testTokenDisabledOwner(t *testing.T, f *fixture) {
	otto := f.users[bulwark.RoleOperator]
	tok, _ := f.loginAs(otto).createToken(t, map[string]any{"name": "x"})
	b := f.bearerClient(tok)
	b.do("GET", "/auth/me", nil).want(t, 200)
	f.admin.do("PATCH", idPath("/users/%d", otto.ID), map[string]any{"disabled": true}).want(t, 200)
	b.do("GET", "/auth/me", nil).wantErr(t, 401, "unauthenticated")
	b.do("POST", "/tokens", map[string]any{"name": "y"}).wantErr(t, 401, "unauthenticated")
	// A deleted owner's token is gone with them.
	f.admin.do("DELETE", idPath("/users/%d", otto.ID), nil).want(t, 204)
	b.do("GET", "/auth/me", nil).wantErr(t, 401, "unauthenticated")
	// A token takes the owner's current role.
	vera := f.users[bulwark.RoleViewer]
	f.admin.do("PATCH", idPath("/users/%d", vera.ID), map[string]any{"role": "operator"}).want(t, 200)
	vtok, _ := f.loginAs(vera).createToken(t, map[string]any{"name": "v"})
	f.admin.do("PATCH", idPath("/users/%d", vera.ID), map[string]any{"role": "viewer"}).want(t, 200)
	f.bearerClient(vtok).do("POST", "/tokens", map[string]any{"name": "w"}).wantErr(t, 403, "forbidden")
}

func testAuthorizationHeader(t *testing.T, f *fixture) {
	tok, _ := f.admin.createToken(t, map[string]any{"name": "hdr"})
	for _, h := range []string{
		"Basic YWRtaW46cGFzc3dvcmQ=",
		"Token " + tok,
		"Bearer",
		"Bearer ",
		"Bearer" + tok,
		"Bearer " + tok + "x",
		"Bearer " + tok + " extra",
		"Bearer " + strings.TrimPrefix(tok, "bwk_"),
		"Bearer bwk_",
		"Bearer " + strings.Repeat("bwk_", 100),
		"Bearer not-a-token",
		"Bearer " + auth.TokenHash(tok),
	} {
		c := f.anon()
		c.hc.Jar = nil
		r := c.do("GET", "/auth/me", nil, header("Authorization", h))
		if r.Status != 401 || r.code() != "unauthenticated" || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("Authorization %.20q…: status %d code %q WWW-Authenticate %q, want 401 unauthenticated with a Bearer challenge",
				h, r.Status, r.code(), r.Header.Get("WWW-Authenticate"))
		}
	}
	// A bad Authorization header is not rescued by a good session cookie.
	f.admin.do("GET", "/auth/me", nil, header("Authorization", "Bearer bwk_nope")).wantErr(t, 401, "unauthenticated")
	// Accepted spellings.
	for _, h := range []string{"Bearer " + tok, "bearer " + tok, "BEARER " + tok, "Bearer   " + tok} {
		f.bearerClient("").do("GET", "/auth/me", nil, header("Authorization", h)).want(t, 200)
	}
	// No credentials at all: 401 on protected, 200 on public.
	f.anon().do("GET", "/users", nil).wantErr(t, 401, "unauthenticated")
	f.anon().do("GET", "/health", nil).want(t, 200)
}

func testTokenInvalid(t *testing.T, f *fixture) {
	c := f.loginAs(f.users[bulwark.RoleOperator])
	past := f.clock.Now().Add(-time.Minute).Format(time.RFC3339)
	future := f.clock.Now().Add(time.Hour).Format(time.RFC3339)
	for _, tc := range []struct {
		body  string
		field string
	}{
		{`{"name":""}`, "name"},
		{`{"name":"   "}`, "name"},
		{`{"name":"` + strings.Repeat("n", 101) + `"}`, "name"},
		{`{"name":"a\nb"}`, "name"},
		{`{}`, ""},
		{`{"name":"x","expires_in_days":-1}`, "expires_in_days"},
		{`{"name":"x","expires_in_days":3651}`, "expires_in_days"},
		{`{"name":"x","expires_in_days":1.5}`, "expires_in_days"},
		{`{"name":"x","expires_in_days":"7"}`, "expires_in_days"},
		{`{"name":"x","expires_at":"tomorrow"}`, "expires_at"},
		{`{"name":"x","expires_at":"` + past + `"}`, "expires_at"},
		{`{"name":"x","expires_at":"` + future + `","expires_in_days":3}`, "expires_in_days"},
		{`{"name":"x","user_id":1}`, "user_id"},
		{`{"name":"x","token":"bwk_chosen"}`, "token"},
	} {
		r := c.do("POST", "/tokens", raw(tc.body))
		if r.Status != 422 || tc.field != "" && !containsStr(r.fields(), tc.field) {
			t.Errorf("create %s: status %d fields %v, want 422 naming %q: %s", tc.body, r.Status, r.fields(), tc.field, r.Raw)
		}
	}
	if toks, _ := f.db.ListAPITokens(t.Context(), 0); len(toks) != 0 {
		t.Errorf("invalid requests created %d tokens", len(toks))
	}
	c.do("DELETE", "/tokens/0", nil).wantErr(t, 422, "validation_failed")
	c.do("DELETE", "/tokens/abc", nil).wantErr(t, 422, "validation_failed")
}
