package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/api"
	"github.com/danielgtaylor/huma/v2"
)

// access is who may call an operation, as the tests expect it.
type access int

const (
	public        access = iota // anyone
	authenticated               // any signed-in user, even one who must change the password
	viewerUp                    // viewer, operator, admin
	operatorUp                  // operator, admin
	adminOnly                   // admin
)

func (a access) allows(r bulwark.Role) bool {
	switch a {
	case public, authenticated, viewerUp:
		return true
	case operatorUp:
		return r == bulwark.RoleOperator || r == bulwark.RoleAdmin
	}
	return r == bulwark.RoleAdmin
}

// opSpec describes how to call one operation harmlessly and what an allowed caller gets.
type opSpec struct {
	access access
	id     func(f *fixture, caller *bulwark.User) int64 // fills {id}
	name   string                                       // fills {name}
	body   func(f *fixture) any
	ok     int // status for an allowed caller with a session
	okTok  int // … with a bearer token (0: same as ok)
}

// opSpecs has a row for EVERY operation the server registers: the matrix
// test fails when an operation has no row, so a new endpoint cannot ship
// without its role check being decided and tested.
var opSpecs = map[string]opSpec{
	"auth.login": {access: public, ok: 200,
		body: func(f *fixture) any { return loginBody("admin", adminPassword) }},
	"auth.logout": {access: authenticated, ok: 204, okTok: 400},
	"auth.me":     {access: authenticated, ok: 200},
	"auth.change_password": {access: authenticated, ok: 422, okTok: 403,
		body: func(*fixture) any {
			return map[string]string{"current_password": "not-the-current-password", "new_password": "A-fresh-passphrase-2931"}
		}},
	"users.list": {access: adminOnly, ok: 200},
	"users.create": {access: adminOnly, ok: 201,
		body: func(f *fixture) any {
			return map[string]any{"username": fmt.Sprintf("matrix%d", f.next()), "role": "viewer"}
		}},
	"users.get": {access: viewerUp, ok: 200, id: ownID},
	"users.update": {access: adminOnly, ok: 200, id: ownID,
		body: func(*fixture) any { return map[string]any{"display_name": "Matrix"} }},
	"users.delete":         {access: adminOnly, ok: 404, id: missingID},
	"users.reset_password": {access: adminOnly, ok: 404, id: missingID, body: func(*fixture) any { return map[string]any{} }},
	"tokens.list":          {access: viewerUp, ok: 200},
	"tokens.create": {access: operatorUp, ok: 201,
		body: func(*fixture) any { return map[string]any{"name": "matrix", "expires_in_days": 1} }},
	"tokens.revoke":   {access: operatorUp, ok: 404, id: missingID},
	"audit.list":      {access: viewerUp, ok: 200},
	"audit.get":       {access: viewerUp, ok: 200, id: func(f *fixture, _ *bulwark.User) int64 { return f.auditID }},
	"settings.get":    {access: viewerUp, ok: 200},
	"settings.update": {access: adminOnly, ok: 200, body: func(*fixture) any { return map[string]any{"organization_name": "Matrix Org"} }},
	"system.health":   {access: public, ok: 200},
	"system.info":     {access: viewerUp, ok: 200},
	"dashboard.get":   {access: viewerUp, ok: 200},
	"policies.list":   {access: viewerUp, ok: 200},
	"policies.get":    {access: viewerUp, ok: 200, name: "llm-standard-security"},
	"policies.create": {access: operatorUp, ok: 201,
		body: func(f *fixture) any { return matrixPolicy(fmt.Sprintf("matrix-%d", f.next())) }},
	"policies.update": {access: operatorUp, ok: 404, name: "no-such-policy",
		body: func(*fixture) any { return matrixPolicy("no-such-policy") }},
	"policies.delete": {access: operatorUp, ok: 404, name: "no-such-policy"},
	"policies.clone": {access: operatorUp, ok: 201, name: "llm-monitoring-only",
		body: func(f *fixture) any { return map[string]any{"name": fmt.Sprintf("matrix-clone-%d", f.next())} }},
	"policies.validate": {access: viewerUp, ok: 200, body: func(*fixture) any { return matrixPolicy("matrix-validate") }},
	"policies.test": {access: viewerUp, ok: 200,
		body: func(*fixture) any {
			return map[string]any{"policies": []string{"llm-standard-security"}, "text": "hello"}
		}},
	"proxies.list": {access: viewerUp, ok: 200},
	"proxies.get":  {access: viewerUp, ok: 404, name: "no-such-proxy"},
	"proxies.create": {access: operatorUp, ok: 201,
		body: func(f *fixture) any { return matrixProxy(fmt.Sprintf("matrix-%d", f.next())) }},
	"proxies.update": {access: operatorUp, ok: 404, name: "no-such-proxy",
		body: func(*fixture) any { return matrixProxy("no-such-proxy") }},
	"proxies.delete":  {access: operatorUp, ok: 404, name: "no-such-proxy"},
	"proxies.start":   {access: operatorUp, ok: 404, name: "no-such-proxy"},
	"proxies.stop":    {access: operatorUp, ok: 404, name: "no-such-proxy"},
	"proxies.restart": {access: operatorUp, ok: 404, name: "no-such-proxy"},
	"groups.list":     {access: viewerUp, ok: 200},
	"groups.get":      {access: viewerUp, ok: 404, id: missingID},
	"groups.create": {access: operatorUp, ok: 201,
		body: func(f *fixture) any { return map[string]any{"name": fmt.Sprintf("matrix-%d", f.next())} }},
	"groups.update": {access: operatorUp, ok: 404, id: missingID,
		body: func(*fixture) any { return map[string]any{"name": "matrix-missing"} }},
	"groups.delete":       {access: operatorUp, ok: 404, id: missingID},
	"groups.budget_reset": {access: operatorUp, ok: 404, id: missingID},
	"gateway_keys.list":   {access: viewerUp, ok: 404, id: missingID},
	"gateway_keys.create": {access: operatorUp, ok: 404, id: missingID,
		body: func(*fixture) any { return map[string]any{"name": "matrix"} }},
	"gateway_keys.revoke": {access: operatorUp, ok: 404, id: missingID},
	"system_prompts.list": {access: viewerUp, ok: 200},
	"system_prompts.get":  {access: viewerUp, ok: 404, id: missingID},
	"system_prompts.create": {access: operatorUp, ok: 201,
		body: func(f *fixture) any { return matrixPrompt(fmt.Sprintf("matrix-%d", f.next())) }},
	"system_prompts.update": {access: operatorUp, ok: 404, id: missingID,
		body: func(*fixture) any { return matrixPrompt("matrix-missing") }},
	"system_prompts.delete": {access: operatorUp, ok: 404, id: missingID},
	"usage.get":             {access: viewerUp, ok: 200},
	"mcp_tools.list":        {access: viewerUp, ok: 404, name: "no-such-proxy"},
	"mcp_tools.get":         {access: viewerUp, ok: 404, name: "no-such-proxy", id: missingID},
	"mcp_tools.approve":     {access: operatorUp, ok: 404, name: "no-such-proxy", id: missingID},
	"mcp_tools.deny":        {access: operatorUp, ok: 404, name: "no-such-proxy", id: missingID},
	"mcp_tools.update": {access: operatorUp, ok: 404, name: "no-such-proxy", id: missingID,
		body: func(*fixture) any { return map[string]any{"calls_per_minute": 5} }},
	"mcp_tools.approve_many": {access: operatorUp, ok: 404, name: "no-such-proxy",
		body: func(*fixture) any { return map[string]any{"tools": []map[string]any{{"id": 987654, "hash": "abc"}}} }},
	"requests.list":       {access: viewerUp, ok: 200},
	"integrations.list":   {access: viewerUp, ok: 200},
	"integrations.health": {access: viewerUp, ok: 200},
	"integrations.get":    {access: viewerUp, ok: 404, id: missingID},
	"integrations.create": {access: adminOnly, ok: 201,
		body: func(f *fixture) any {
			return map[string]any{"name": fmt.Sprintf("matrix-%d", f.next()), "kind": "splunk", "enabled": false,
				"settings": map[string]any{"url": "https://splunk.example:8088"}, "secrets": map[string]string{"token": "t"}}
		}},
	"integrations.update": {access: adminOnly, ok: 404, id: missingID,
		body: func(*fixture) any { return map[string]any{"name": "matrix", "kind": "slack"} }},
	"integrations.delete":     {access: adminOnly, ok: 404, id: missingID},
	"integrations.test":       {access: adminOnly, ok: 404, id: missingID},
	"integrations.kinds":      {access: viewerUp, ok: 200},
	"integrations.deliveries": {access: adminOnly, ok: 404, id: missingID},
	"integrations.retry": {access: adminOnly, ok: 404, id: missingID,
		body: func(*fixture) any { return map[string]any{"all": true} }},
	"alerts.list":   {access: viewerUp, ok: 200},
	"alerts.export": {access: viewerUp, ok: 200},
	"alerts.get":    {access: viewerUp, ok: 404, id: missingID},
	"alerts.set_status": {access: operatorUp, ok: 404, id: missingID,
		body: func(*fixture) any { return map[string]any{"status": "resolved"} }},
	"alerts.bulk_status": {access: operatorUp, ok: 404,
		body: func(*fixture) any { return map[string]any{"ids": []string{"987654"}, "status": "resolved"} }},
	"alerts.add_note": {access: operatorUp, ok: 404, id: missingID,
		body: func(*fixture) any { return map[string]any{"text": "matrix"} }},
}

func matrixProxy(name string) map[string]any {
	return map[string]any{"name": name, "type": "llm", "provider": "openai", "upstream_url": "https://api.openai.com",
		"policies": []string{"llm-monitoring-only"}, "enabled": false}
}

func matrixPrompt(name string) map[string]any {
	return map[string]any{"name": name, "template": "Be helpful to {{.User}}."}
}

// readOnlyPosts are POST operations that change nothing (they take a body
// to check or scan), so viewers may call them.
var readOnlyPosts = []string{"policies.validate", "policies.test"}

func matrixPolicy(name string) map[string]any {
	return map[string]any{"name": name, "version": "1.0.0", "description": "role matrix", "extends": []string{"llm-monitoring-only"}}
}

func ownID(f *fixture, caller *bulwark.User) int64 {
	if caller == nil {
		return f.adminUser.ID
	}
	return caller.ID
}

func missingID(*fixture, *bulwark.User) int64 { return 987654 }

// fixture is an env with one user per role.
type fixture struct {
	*env
	users   map[bulwark.Role]*bulwark.User
	auditID int64
}

func newFixture(t testing.TB, opts ...option) *fixture {
	e := newTestServer(t, opts...)
	f := &fixture{env: e, users: map[bulwark.Role]*bulwark.User{
		bulwark.RoleAdmin:    e.adminUser,
		bulwark.RoleOperator: e.createUser("otto", bulwark.RoleOperator),
		bulwark.RoleViewer:   e.createUser("vera", bulwark.RoleViewer),
	}}
	f.auditID = e.auditMark() // the admin's login
	return f
}

// operation is one registered operation as the OpenAPI document lists it.
type operation struct {
	ID, Method, Path string
	Op               *huma.Operation
}

func operations(srv *api.Server) []operation {
	var out []operation
	for path, item := range srv.OpenAPI().Paths {
		for method, op := range map[string]*huma.Operation{
			http.MethodGet: item.Get, http.MethodPost: item.Post, http.MethodPut: item.Put, http.MethodPatch: item.Patch,
			http.MethodDelete: item.Delete, http.MethodHead: item.Head, http.MethodOptions: item.Options, http.MethodTrace: item.Trace,
		} {
			if op != nil {
				out = append(out, operation{ID: op.OperationID, Method: method, Path: path, Op: op})
			}
		}
	}
	slices.SortFunc(out, func(a, b operation) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// call invokes op as caller (nil: anonymous) through c.
func (f *fixture) call(c *client, op operation, caller *bulwark.User) *response {
	c.t.Helper()
	spec := opSpecs[op.ID]
	path := op.Path
	if spec.id != nil {
		path = strings.ReplaceAll(path, "{id}", fmt.Sprint(spec.id(f, caller)))
	}
	path = strings.ReplaceAll(path, "{name}", spec.name)
	path = strings.ReplaceAll(path, "{key_id}", "987654")
	var body any
	if spec.body != nil {
		body = spec.body(f)
	}
	return c.do(op.Method, path, body)
}

func TestRoleMatrix(t *testing.T) {
	f := newFixture(t)
	ops := operations(f.srv)
	if len(ops) < len(opSpecs) {
		t.Errorf("OpenAPI lists %d operations, the matrix has %d rows", len(ops), len(opSpecs))
	}
	listed := map[string]bool{}
	for _, op := range ops {
		listed[op.ID] = true
	}
	for id := range opSpecs {
		if !listed[id] {
			t.Errorf("matrix row %s names no registered operation", id)
		}
	}
	tokens, sessions := map[bulwark.Role]*client{}, map[bulwark.Role]*client{}
	for role, u := range f.users {
		tokens[role] = f.tokenClient(u)
		sessions[role] = f.loginAs(u)
	}

	for _, op := range ops {
		spec, ok := opSpecs[op.ID]
		if !ok {
			t.Errorf("operation %s (%s %s) has no row in the role matrix: add one to opSpecs", op.ID, op.Method, op.Path)
			continue
		}
		t.Run(op.ID, func(t *testing.T) {
			// Anonymous.
			r := f.call(f.anon().on(t), op, nil)
			if spec.access == public {
				r.want(t, spec.ok)
			} else {
				r.wantErr(t, 401, "unauthenticated")
			}
			for _, role := range bulwark.Roles {
				u := f.users[role]
				for _, viaToken := range []bool{false, true} {
					var c *client
					if viaToken {
						c = tokens[role].on(t)
					} else {
						c = sessions[role].on(t)
					}
					mark := f.auditMark()
					r := f.call(c, op, u)
					if !viaToken && (op.ID == "auth.logout" || op.ID == "auth.login") {
						sessions[role] = f.loginAs(u) // the cell ended or replaced the session
					}
					want := spec.ok
					if viaToken && spec.okTok != 0 {
						want = spec.okTok
					}
					if !spec.access.allows(role) {
						r.wantErr(t, 403, "forbidden")
						if op.Method != http.MethodGet {
							rows := f.auditAfter(mark)
							if len(rows) != 1 || rows[0].Result != bulwark.ResultDenied || rows[0].Actor != u.Username ||
								rows[0].ActorID != u.ID || rows[0].Action != api.AuditAction(op.ID) {
								t.Errorf("%s as %s (token=%v): want one denied audit row, got %+v", op.ID, role, viaToken, rows)
							}
						}
						continue
					}
					if r.Status != want {
						t.Errorf("%s as %s (token=%v): status %d, want %d; body %s", op.ID, role, viaToken, r.Status, want, r.Raw)
					}
				}
			}
		})
	}
}

// TestViewerCannotChangeAnything derives the rule from the OpenAPI document
// alone, so a mistake in opSpecs cannot hide a writable endpoint.
func TestViewerCannotChangeAnything(t *testing.T) {
	f := newFixture(t)
	viewer := f.users[bulwark.RoleViewer]
	selfService := []string{"auth.login", "auth.logout", "auth.change_password"}
	tok := f.tokenClient(viewer)
	sess := f.loginAs(viewer)
	for _, op := range operations(f.srv) {
		if op.Method == http.MethodGet || slices.Contains(selfService, op.ID) || slices.Contains(readOnlyPosts, op.ID) {
			continue
		}
		if _, ok := opSpecs[op.ID]; !ok {
			t.Errorf("operation %s has no row in opSpecs", op.ID)
			continue
		}
		for _, c := range []*client{sess, tok} {
			before := f.auditMark()
			f.call(c, op, viewer).wantErr(t, 403, "forbidden")
			rows := f.auditAfter(before)
			if len(rows) != 1 || rows[0].Result != "denied" || rows[0].Actor != "vera" || rows[0].Action != api.AuditAction(op.ID) ||
				rows[0].SourceIP != "127.0.0.1" || rows[0].UserAgent != testUA {
				t.Errorf("%s: denied call must write one audit row with result denied, got %+v", op.ID, rows)
			}
		}
	}
	// Nothing changed: no users, tokens or settings were written by the viewer.
	us, _ := f.db.ListUsers(t.Context())
	if len(us) != 3 {
		t.Errorf("users: %d, want 3", len(us))
	}
	raw, _ := f.db.GetSettings(t.Context())
	if len(raw) != 0 {
		t.Errorf("settings were written: %v", raw)
	}
	toks, _ := f.db.ListAPITokens(t.Context(), viewer.ID)
	if len(toks) != 1 { // the one the test issued
		t.Errorf("viewer tokens: %d, want 1", len(toks))
	}
}

// TestOperatorLimits covers the checks made inside handlers rather than by role level.
func TestOperatorLimits(t *testing.T) {
	f := newFixture(t)
	op := f.loginAs(f.users[bulwark.RoleOperator])
	// Reading another user is for admins only; reading oneself is fine.
	op.do("GET", idPath("/users/%d", f.adminUser.ID), nil).wantErr(t, 403, "forbidden")
	op.do("GET", idPath("/users/%d", f.users[bulwark.RoleOperator].ID), nil).want(t, 200)
	f.loginAs(f.users[bulwark.RoleViewer]).do("GET", idPath("/users/%d", f.adminUser.ID), nil).wantErr(t, 403, "forbidden")
	// Listing every user's tokens is for admins only.
	op.do("GET", "/tokens?all=true", nil).wantErr(t, 403, "forbidden")
	f.loginAs(f.users[bulwark.RoleViewer]).do("GET", "/tokens?all=true", nil).wantErr(t, 403, "forbidden")
	f.admin.do("GET", "/tokens?all=true", nil).want(t, 200)
}

// TestAuthBeforeValidation: who may call is decided before the input is
// looked at. An anonymous caller gets 401 and a viewer 403 (audited as
// denied) even when the body or path is invalid; otherwise a viewer's
// attempted change escapes the audit log and anonymous callers probe the
// input rules of protected operations.
func TestAuthBeforeValidation(t *testing.T) {
	f := newFixture(t)
	vera := f.loginAs(f.users[bulwark.RoleViewer])
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/users", `{"username":"x","role":"nope","extra":1}`},
		{"PATCH", "/settings", `{"session_idle_minutes":"never"}`},
		{"POST", "/tokens", `{"name":""}`},
		{"DELETE", "/users/0", ``},
		{"POST", "/users", `{"username":`},
	} {
		var body any
		if tc.body != "" {
			body = raw(tc.body)
		}
		if r := f.anon().do(tc.method, tc.path, body); r.Status != 401 {
			t.Errorf("anonymous %s %s %s: status %d, want 401: %s", tc.method, tc.path, tc.body, r.Status, r.Raw)
		}
		mark := f.auditMark()
		if r := vera.do(tc.method, tc.path, body); r.Status != 403 {
			t.Errorf("viewer %s %s %s: status %d, want 403: %s", tc.method, tc.path, tc.body, r.Status, r.Raw)
		}
		if rows := f.auditAfter(mark); len(rows) != 1 || rows[0].Result != bulwark.ResultDenied {
			t.Errorf("viewer %s %s %s: want one denied audit row, got %+v", tc.method, tc.path, tc.body, rows)
		}
	}
}
