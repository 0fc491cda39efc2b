package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/api"
)

func TestSettings(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		runAll(t, open, []namedTest{
			{"DefaultsAndPatch", testSettingsPatch},
			{"OutOfRange", testSettingsInvalid},
			{"IdleTimeoutTakesEffect", testSettingsIdle},
			{"LockoutPolicyTakesEffect", testSettingsLockout},
		})
	})
}

func getSettings(t *testing.T, c *client) bulwark.Settings {
	t.Helper()
	var s bulwark.Settings
	c.do("GET", "/settings", nil).want(t, 200).decode(t, &s)
	return s
}

func testSettingsPatch(t *testing.T, f *fixture) {
	if got := getSettings(t, f.loginAs(f.users[bulwark.RoleViewer])); got != bulwark.DefaultSettings() {
		t.Errorf("defaults: %+v", got)
	}
	var got bulwark.Settings
	f.admin.do("PATCH", "/settings", map[string]any{"organization_name": "Acme Ltd", "audit_retention_days": 0}).want(t, 200).decode(t, &got)
	want := bulwark.DefaultSettings()
	want.OrganizationName, want.AuditRetentionDays = "Acme Ltd", 0
	if got != want {
		t.Errorf("patch response %+v, want %+v", got, want)
	}
	if g := getSettings(t, f.admin); g != want {
		t.Errorf("after patch %+v, want %+v", g, want)
	}
	stored, _ := f.db.GetSettings(t.Context())
	if len(stored) != 2 || string(stored["organization_name"]) != `"Acme Ltd"` || string(stored["audit_retention_days"]) != "0" {
		t.Errorf("only the changed keys are stored: %v", stored)
	}
	// Every setting can be set; the extremes are accepted.
	f.admin.do("PATCH", "/settings", map[string]any{"organization_name": strings.Repeat("ö", 128), "audit_retention_days": 3650,
		"session_idle_minutes": 10080, "login_max_failures": 100, "login_lockout_minutes": 1440}).want(t, 200)
	f.admin.do("PATCH", "/settings", map[string]any{"session_idle_minutes": 5, "login_max_failures": 3, "login_lockout_minutes": 1}).want(t, 200)
	f.admin.do("PATCH", "/settings", map[string]any{}).want(t, 200)
	if g := getSettings(t, f.admin); g.SessionIdleMinutes != 5 || g.LoginMaxFailures != 3 || g.LoginLockoutMins != 1 || g.AuditRetentionDays != 3650 {
		t.Errorf("after patches: %+v", g)
	}
	// Unknown stored keys (from a newer version) and malformed values do not break reading.
	if err := f.db.PutSettings(t.Context(), map[string]json.RawMessage{"future_key": json.RawMessage(`{"x":1}`),
		"login_max_failures": json.RawMessage(`"bad"`)}, "test", f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if g := getSettings(t, f.admin); g.LoginMaxFailures != bulwark.DefaultSettings().LoginMaxFailures || g.SessionIdleMinutes != 5 {
		t.Errorf("malformed stored value: %+v", g)
	}
}

func testSettingsInvalid(t *testing.T, f *fixture) {
	for _, tc := range []struct {
		body  string
		field string
	}{
		{`{"session_idle_minutes":4}`, "session_idle_minutes"},
		{`{"session_idle_minutes":10081}`, "session_idle_minutes"},
		{`{"session_idle_minutes":"60"}`, "session_idle_minutes"},
		{`{"session_idle_minutes":60.5}`, "session_idle_minutes"},
		{`{"audit_retention_days":-1}`, "audit_retention_days"},
		{`{"audit_retention_days":3651}`, "audit_retention_days"},
		{`{"login_max_failures":2}`, "login_max_failures"},
		{`{"login_max_failures":101}`, "login_max_failures"},
		{`{"login_lockout_minutes":0}`, "login_lockout_minutes"},
		{`{"login_lockout_minutes":1441}`, "login_lockout_minutes"},
		{`{"organization_name":"` + strings.Repeat("o", 129) + `"}`, "organization_name"},
		{`{"organization_name":"two\nlines"}`, "organization_name"},
		{`{"organization_name":"nul\u0000"}`, "organization_name"},
		{`{"organization_name":"Fine","login_max_failures":1000}`, "login_max_failures"}, // a valid key with an invalid one: nothing stored
		{`{"organisation_name":"typo"}`, "organisation_name"},
	} {
		r := f.admin.do("PATCH", "/settings", raw(tc.body))
		if r.Status != 422 || r.code() != "validation_failed" || !containsStr(r.fields(), tc.field) {
			t.Errorf("PATCH %s: status %d fields %v, want 422 naming %s: %s", tc.body, r.Status, r.fields(), tc.field, r.Raw)
		}
	}
	if stored, _ := f.db.GetSettings(t.Context()); len(stored) != 0 {
		t.Errorf("invalid patches stored settings: %v", stored)
	}
	if g := getSettings(t, f.admin); g != bulwark.DefaultSettings() {
		t.Errorf("settings changed: %+v", g)
	}
	for _, role := range []bulwark.Role{bulwark.RoleViewer, bulwark.RoleOperator} {
		f.loginAs(f.users[role]).do("PATCH", "/settings", map[string]any{"organization_name": "Mine"}).wantErr(t, 403, "forbidden")
		f.tokenClient(f.users[role]).do("PATCH", "/settings", map[string]any{"organization_name": "Mine"}).wantErr(t, 403, "forbidden")
	}
	if stored, _ := f.db.GetSettings(t.Context()); len(stored) != 0 {
		t.Errorf("non-admins stored settings: %v", stored)
	}
}

func testSettingsIdle(t *testing.T, f *fixture) {
	vera := f.users[bulwark.RoleViewer]
	before := f.loginAs(vera)
	f.clock.Advance(6 * time.Minute)
	before.do("GET", "/auth/me", nil).want(t, 200) // default 60 minutes
	f.admin.do("PATCH", "/settings", map[string]any{"session_idle_minutes": 5}).want(t, 200)
	after := f.loginAs(vera)
	f.clock.Advance(5 * time.Minute)
	after.do("GET", "/auth/me", nil).want(t, 200)
	f.clock.Advance(5*time.Minute + time.Second)
	after.do("GET", "/auth/me", nil).wantErr(t, 401, "unauthenticated")
	before.do("GET", "/auth/me", nil).wantErr(t, 401, "unauthenticated") // applies to existing sessions too
	f.admin.do("GET", "/auth/me", nil).wantErr(t, 401, "unauthenticated")
}

func testSettingsLockout(t *testing.T, f *fixture) {
	f.admin.do("PATCH", "/settings", map[string]any{"login_max_failures": 3, "login_lockout_minutes": 2}).want(t, 200)
	for range 3 {
		f.anon().do("POST", "/auth/login", loginBody("vera", "Wrong-vera-password-1")).wantErr(t, 401, "unauthenticated")
	}
	r := f.anon().do("POST", "/auth/login", loginBody("vera", f.password("vera"))).wantErr(t, 429, "rate_limited")
	if r.Header.Get("Retry-After") != "120" {
		t.Errorf("Retry-After %q, want 120", r.Header.Get("Retry-After"))
	}
	f.clock.Advance(2 * time.Minute)
	f.loginAs(f.users[bulwark.RoleViewer])
}

func TestHealthAndSystem(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		f := newFixture(t, withStore(open))
		r := f.anon().do("GET", "/health", nil).want(t, 200)
		if r.str("status") != "ok" || r.str("database") != "ok" {
			t.Errorf("health: %s", r.Raw)
		}
		f.anon().do("GET", "/system", nil).wantErr(t, 401, "unauthenticated")
		r = f.loginAs(f.users[bulwark.RoleViewer]).do("GET", "/system", nil).want(t, 200)
		if r.str("database_engine") != f.db.Engine() || r.str("version") != "v0.0.0-test" || r.str("commit") != "abc123" ||
			r.str("go_version") != runtime.Version() || r.str("started_at") == "" {
			t.Errorf("system: %s", r.Raw)
		}
		if e := f.db.Engine(); e != "sqlite" && e != "postgres" {
			t.Errorf("engine %q", e)
		}
	})
}

type unready struct{ api.Store }

func (unready) Ready(context.Context) error { return errors.New("database is down") }

func TestHealthUnavailable(t *testing.T) {
	f := newFixture(t, withStoreWrapper(func(s api.Store) api.Store { return unready{s} }))
	r := f.anon().do("GET", "/health", nil).want(t, 503)
	if r.str("status") != "unavailable" || strings.Contains(string(r.Raw), "database is down") {
		t.Errorf("health must report unavailable without internal detail: %s", r.Raw)
	}
}

func TestOpenAPIDocument(t *testing.T) {
	f := newFixture(t)
	r := f.anon().do("GET", "/openapi.json", nil).want(t, 200)
	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct{ Title, Version string }
		Paths   map[string]map[string]struct {
			OperationID string                     `json:"operationId"`
			Security    []map[string][]string      `json:"security"`
			Responses   map[string]json.RawMessage `json:"responses"`
		}
		Components struct {
			SecuritySchemes map[string]json.RawMessage `json:"securitySchemes"`
		}
	}
	r.decode(t, &doc)
	if doc.OpenAPI != "3.1.0" || doc.Info.Title == "" || doc.Info.Version == "" {
		t.Errorf("openapi %q info %+v", doc.OpenAPI, doc.Info)
	}
	if doc.Components.SecuritySchemes["bearer"] == nil || doc.Components.SecuritySchemes["session"] == nil {
		t.Errorf("security schemes: %v", doc.Components.SecuritySchemes)
	}
	n := 0
	for path, item := range doc.Paths {
		for method, op := range item {
			n++
			spec, ok := opSpecs[op.OperationID]
			if !ok {
				t.Errorf("%s %s (%s): not in opSpecs", method, path, op.OperationID)
				continue
			}
			needsAuth := spec.access != public
			if needsAuth != (len(op.Security) > 0) {
				t.Errorf("%s: security %v, but needs auth = %v", op.OperationID, op.Security, needsAuth)
			}
			if needsAuth && (op.Responses["401"] == nil || op.Responses["403"] == nil) {
				t.Errorf("%s needs auth but does not document 401 and 403", op.OperationID)
			}
			if len(op.Responses) == 0 {
				t.Errorf("%s documents no responses", op.OperationID)
			}
		}
	}
	if n != len(opSpecs) {
		t.Errorf("document lists %d operations, opSpecs %d", n, len(opSpecs))
	}
	// The hashes of MCP tool definitions are public fingerprints, not
	// secrets: only the MCP tool schemas may have a field named hash.
	var all map[string]any
	r.decode(t, &all)
	schemas := all["components"].(map[string]any)["schemas"].(map[string]any)
	for name := range schemas {
		if strings.HasPrefix(name, "MCPTool") {
			delete(schemas, name)
		}
	}
	rest, _ := json.Marshal(all)
	for _, leak := range []string{"password_hash", "PasswordHash", `"hash"`} {
		if strings.Contains(string(rest), leak) {
			t.Errorf("document mentions %s", leak)
		}
	}
}
