package api_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
)

func TestAudit(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		runAll(t, open, []namedTest{
			{"Records", testAuditRecords},
			{"ListFilters", testAuditFilters},
			{"ListErrors", testAuditErrors},
		})
	})
}

// row is an expected audit entry; resID "" means "no resource id", "*" any.
type row struct {
	action, actor, result, resType, resID string
	actorID                               int64
	details                               map[string]any // subset that must match
}

// expected event for an audit action.
func eventFor(action, result string) (bulwark.EventType, bulwark.Severity) {
	typ := bulwark.EventConfig
	if strings.HasPrefix(action, "auth.") {
		typ = bulwark.EventAuth
	}
	sev := bulwark.SeverityInfo
	switch {
	case action == "auth.lockout":
		sev = bulwark.SeverityHigh
	case result == "failure":
		sev = bulwark.SeverityLow
	case result == "denied":
		sev = bulwark.SeverityMedium
	}
	return typ, sev
}

// expectAudit runs step and requires exactly the rows (in order) and one
// matching event per row.
func (f *fixture) expectAudit(t *testing.T, name string, step func(), want ...row) {
	t.Helper()
	mark, evMark := f.auditMark(), f.eventMark()
	step()
	got := f.auditAfter(mark)
	if len(got) != len(want) {
		t.Errorf("%s: %d audit rows, want %d: %+v", name, len(got), len(want), got)
		return
	}
	now := f.clock.Now()
	for i, w := range want {
		g := got[i]
		if g.Action != w.action || g.Actor != w.actor || g.Result != w.result || g.ResourceType != w.resType ||
			(w.resID != "*" && g.ResourceID != w.resID) || g.ActorID != w.actorID {
			t.Errorf("%s: row %d = {%s %s(%d) %s %s/%s}, want {%s %s(%d) %s %s/%s}", name, i,
				g.Action, g.Actor, g.ActorID, g.Result, g.ResourceType, g.ResourceID,
				w.action, w.actor, w.actorID, w.result, w.resType, w.resID)
		}
		if g.SourceIP != "127.0.0.1" || g.UserAgent != testUA || !g.Time.Equal(now) {
			t.Errorf("%s: row %d source %q agent %q time %v, want 127.0.0.1, %q, %v", name, i, g.SourceIP, g.UserAgent, g.Time, testUA, now)
		}
		for k, v := range w.details {
			if fmt.Sprint(g.Details[k]) != fmt.Sprint(v) {
				t.Errorf("%s: row %d details[%s] = %v, want %v (details %v)", name, i, k, g.Details[k], v, g.Details)
			}
		}
	}
	evs := f.eventsAfter(evMark)
	if len(evs) != len(want) {
		t.Errorf("%s: %d events, want %d: %+v", name, len(evs), len(want), evs)
		return
	}
	for _, w := range want {
		typ, sev := eventFor(w.action, w.result)
		i := slices.IndexFunc(evs, func(ev bulwark.Event) bool {
			return ev.Action == w.action && ev.Actor == w.actor && ev.Type == typ && ev.Severity == sev
		})
		if i < 0 {
			t.Errorf("%s: no %s/%s event for %s by %s among %+v", name, typ, sev, w.action, w.actor, evs)
			continue
		}
		ev := evs[i]
		var data map[string]any
		if err := json.Unmarshal(ev.Data, &data); err != nil || data["result"] != w.result || data["source_ip"] != "127.0.0.1" ||
			!ev.Time.Equal(now) || ev.Subject == "" || ev.ID == "" {
			t.Errorf("%s: event %+v (data %s)", name, ev, ev.Data)
		}
		evs = slices.Delete(evs, i, i+1)
	}
}

func testAuditRecords(t *testing.T, f *fixture) {
	admin, vera, otto := f.adminUser, f.users[bulwark.RoleViewer], f.users[bulwark.RoleOperator]
	id := func(i int64) string { return strconv.FormatInt(i, 10) }
	var vc *client
	f.expectAudit(t, "login", func() { vc = f.loginAs(vera) },
		row{"auth.login", "vera", "success", "session", "", vera.ID, nil})
	f.expectAudit(t, "login bad password", func() {
		f.anon().do("POST", "/auth/login", loginBody("Vera", "Wrong-vera-password-1")).wantErr(t, 401, "unauthenticated")
	}, row{"auth.login", "vera", "failure", "session", "", vera.ID, map[string]any{"reason": "bad credentials"}})
	f.expectAudit(t, "login unknown user", func() {
		f.anon().do("POST", "/auth/login", loginBody("nobody", "Wrong-vera-password-1")).wantErr(t, 401, "unauthenticated")
	}, row{"auth.login", "nobody", "failure", "session", "", 0, map[string]any{"reason": "unknown user"}})
	f.expectAudit(t, "password change failure", func() {
		vc.do("POST", "/auth/password", map[string]any{"current_password": "Wrong-vera-password-1", "new_password": "Vera-new-passphrase-42"}).
			wantErr(t, 422, "validation_failed")
	}, row{"auth.password_change", "vera", "failure", "user", id(vera.ID), vera.ID, nil})
	f.expectAudit(t, "password change", func() {
		vc.do("POST", "/auth/password", map[string]any{"current_password": f.password("vera"), "new_password": "Vera-new-passphrase-42"}).want(t, 204)
		f.setPassword("vera", "Vera-new-passphrase-42")
	}, row{"auth.password_change", "vera", "success", "user", id(vera.ID), vera.ID, nil})
	f.expectAudit(t, "viewer denied", func() {
		vc.do("POST", "/users", map[string]any{"username": "sneaky", "role": "admin"}).wantErr(t, 403, "forbidden")
	}, row{"user.create", "vera", "denied", "", "", vera.ID, map[string]any{"required_role": "admin", "operation": "users.create"}})
	f.expectAudit(t, "viewer reads", func() {
		vc.do("GET", "/audit", nil).want(t, 200)
		vc.do("GET", "/users", nil).wantErr(t, 403, "forbidden") // denied reads are not audited
	})
	f.expectAudit(t, "logout", func() { vc.do("POST", "/auth/logout", nil).want(t, 204) },
		row{"auth.logout", "vera", "success", "session", "", vera.ID, nil})

	var newID int64
	f.expectAudit(t, "user create", func() {
		newID = f.admin.do("POST", "/users", map[string]any{"username": "zed", "role": "viewer"}).want(t, 201).num("user", "id")
	}, row{"user.create", "admin", "success", "user", "*", admin.ID, map[string]any{"username": "zed", "role": "viewer"}})
	f.expectAudit(t, "user update", func() {
		f.admin.do("PATCH", idPath("/users/%d", newID), map[string]any{"role": "operator", "display_name": "Zed"}).want(t, 200)
	}, row{"user.update", "admin", "success", "user", id(newID), admin.ID, map[string]any{"username": "zed"}})
	f.expectAudit(t, "user password reset", func() {
		f.secret(f.admin.do("POST", idPath("/users/%d/password", newID), map[string]any{}).want(t, 200).str("initial_password"))
	}, row{"user.password_reset", "admin", "success", "user", id(newID), admin.ID, map[string]any{"generated": true}})
	f.expectAudit(t, "user delete", func() { f.admin.do("DELETE", idPath("/users/%d", newID), nil).want(t, 204) },
		row{"user.delete", "admin", "success", "user", id(newID), admin.ID, map[string]any{"username": "zed"}})

	oc := f.loginAs(otto)
	var tokID int64
	f.expectAudit(t, "token create", func() {
		_, r := oc.createToken(t, map[string]any{"name": "audit", "expires_in_days": 2})
		tokID = r.num("api_token", "id")
	}, row{"token.create", "otto", "success", "api_token", "*", otto.ID, map[string]any{"name": "audit"}})
	f.expectAudit(t, "token revoke", func() { oc.do("DELETE", idPath("/tokens/%d", tokID), nil).want(t, 204) },
		row{"token.revoke", "otto", "success", "api_token", id(tokID), otto.ID, map[string]any{"name": "audit"}})
	f.expectAudit(t, "operator denied settings", func() {
		oc.do("PATCH", "/settings", map[string]any{"organization_name": "Nope"}).wantErr(t, 403, "forbidden")
	}, row{"settings.update", "otto", "denied", "", "", otto.ID, nil})
	f.expectAudit(t, "settings update", func() {
		f.admin.do("PATCH", "/settings", map[string]any{"organization_name": "Acme", "login_max_failures": 4}).want(t, 200)
	}, row{"settings.update", "admin", "success", "settings", "general", admin.ID, nil})
	f.expectAudit(t, "settings no-op", func() {
		f.admin.do("PATCH", "/settings", map[string]any{"organization_name": "Acme"}).want(t, 200)
	})

	// Lockout (login_max_failures is now 4): the 4th failure locks, the next try is denied.
	for range 3 {
		f.anon().do("POST", "/auth/login", loginBody("otto", "Wrong-otto-password-1")).wantErr(t, 401, "unauthenticated")
	}
	f.expectAudit(t, "lockout", func() {
		f.anon().do("POST", "/auth/login", loginBody("otto", "Wrong-otto-password-1")).wantErr(t, 401, "unauthenticated")
	}, row{"auth.login", "otto", "failure", "session", "", otto.ID, map[string]any{"reason": "bad credentials"}},
		row{"auth.lockout", "otto", "success", "user", id(otto.ID), otto.ID, map[string]any{"failed_logins": 4}})
	f.expectAudit(t, "locked login", func() {
		f.anon().do("POST", "/auth/login", loginBody("otto", f.password("otto"))).wantErr(t, 429, "rate_limited")
	}, row{"auth.login", "otto", "denied", "session", "", otto.ID, map[string]any{"reason": "throttled"}})

	// The settings change details name the change; no audit row or event
	// anywhere holds a password or token (also checked on every response).
	p, _ := f.db.ListAudit(t.Context(), bulwark.AuditFilter{Action: "settings.update", Result: "success"})
	if len(p.Items) != 1 || fmt.Sprint(p.Items[0].Details["changes"]) != "map[login_max_failures:map[from:5 to:4] organization_name:map[from: to:Acme]]" {
		t.Errorf("settings audit details: %+v", p.Items)
	}
	f.assertStoredSecretFree(t)
}

// assertStoredSecretFree scans every audit row and event for passwords, tokens and hashes.
func (f *fixture) assertStoredSecretFree(t *testing.T) {
	t.Helper()
	var blobs []string
	for _, a := range f.auditAfter(0) {
		j, _ := json.Marshal(a)
		blobs = append(blobs, string(j))
	}
	for _, ev := range f.allEvents() {
		j, _ := json.Marshal(ev)
		blobs = append(blobs, string(j))
	}
	f.mu.Lock()
	secrets := slices.Clone(f.secrets)
	f.mu.Unlock()
	for _, b := range blobs {
		if strings.Contains(b, "$argon2id$") || strings.Contains(strings.ToLower(b), "password_hash") {
			t.Errorf("stored audit/event holds a hash: %s", b)
		}
		for _, s := range secrets {
			if strings.Contains(b, s) {
				t.Errorf("stored audit/event holds a secret (%.8s…): %s", s, b)
			}
		}
	}
}

// auditList fetches GET /audit with the query and returns the ids and total.
func auditList(t *testing.T, c *client, q url.Values) ([]int64, int64) {
	t.Helper()
	r := c.do("GET", "/audit?"+q.Encode(), nil).want(t, 200)
	var ids []int64
	for i := range r.list("items") {
		ids = append(ids, r.num("items", i, "id"))
	}
	return ids, r.num("total")
}

func testAuditFilters(t *testing.T, f *fixture) {
	t0 := f.clock.Now()               // the admin's login
	adm := f.tokenClient(f.adminUser) // sessions would idle out over the hours below
	f.clock.Advance(time.Hour)
	for range 3 {
		f.anon().do("POST", "/auth/login", loginBody("mallory", "Wrong-password-123")).wantErr(t, 401, "unauthenticated")
	}
	f.clock.Advance(time.Hour)
	vc := f.loginAs(f.users[bulwark.RoleViewer])
	vc.do("POST", "/auth/logout", nil).want(t, 204)
	f.clock.Advance(time.Hour)
	adm.do("POST", "/users", map[string]any{"username": "zed", "role": "viewer", "display_name": "Zed"}).want(t, 201)
	adm.do("PATCH", "/settings", map[string]any{"organization_name": "Acme"}).want(t, 200)

	all := f.auditAfter(0)
	slices.Reverse(all) // newest first, as the API lists them
	filter := func(keep func(a bulwark.AuditEntry) bool) []int64 {
		var ids []int64
		for _, a := range all {
			if keep(a) {
				ids = append(ids, a.ID)
			}
		}
		return ids
	}
	ts := func(tm time.Time) string { return tm.UTC().Format(time.RFC3339) }
	v := func(kv ...string) url.Values {
		q := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return q
	}
	cases := []struct {
		name string
		q    url.Values
		want []int64
	}{
		{"all", v("limit", "500"), filter(func(bulwark.AuditEntry) bool { return true })},
		{"actor", v("actor", "mallory"), filter(func(a bulwark.AuditEntry) bool { return a.Actor == "mallory" })},
		{"action prefix", v("action", "auth."), filter(func(a bulwark.AuditEntry) bool { return strings.HasPrefix(a.Action, "auth.") })},
		{"action exact", v("action", "auth.login"), filter(func(a bulwark.AuditEntry) bool { return a.Action == "auth.login" })},
		{"action no implicit prefix", v("action", "auth"), nil},
		{"result", v("result", "failure"), filter(func(a bulwark.AuditEntry) bool { return a.Result == "failure" })},
		{"resource", v("resource_type", "settings", "resource_id", "general"), filter(func(a bulwark.AuditEntry) bool { return a.ResourceType == "settings" })},
		{"since", v("since", ts(t0.Add(2*time.Hour))), filter(func(a bulwark.AuditEntry) bool { return !a.Time.Before(t0.Add(2 * time.Hour)) })},
		{"until", v("until", ts(t0.Add(2*time.Hour))), filter(func(a bulwark.AuditEntry) bool { return a.Time.Before(t0.Add(2 * time.Hour)) })},
		{"since until", v("since", ts(t0.Add(time.Hour)), "until", ts(t0.Add(2*time.Hour))), filter(func(a bulwark.AuditEntry) bool {
			return a.Time.Equal(t0.Add(time.Hour))
		})},
		{"q", v("q", "MALLO"), filter(func(a bulwark.AuditEntry) bool { return a.Actor == "mallory" })},
		{"q details", v("q", "acme"), filter(func(a bulwark.AuditEntry) bool { return a.Action == "settings.update" })},
		{"q percent is literal", v("q", "%"), nil},
		{"q underscore is literal", v("q", "m_llory"), nil},
		{"combined", v("actor", "mallory", "result", "success"), nil},
		{"limit offset", v("limit", "2", "offset", "1"), filter(func(bulwark.AuditEntry) bool { return true })[1:3]},
		{"offset past end", v("offset", "1000"), nil},
	}
	for _, tc := range cases {
		ids, total := auditList(t, adm, tc.q)
		if !slices.Equal(ids, tc.want) {
			t.Errorf("%s (%s): ids %v, want %v", tc.name, tc.q.Encode(), ids, tc.want)
		}
		wantTotal := int64(len(tc.want))
		if tc.name == "limit offset" || tc.name == "offset past end" {
			wantTotal = int64(len(all))
		}
		if total != wantTotal {
			t.Errorf("%s: total %d, want %d", tc.name, total, wantTotal)
		}
	}
	// Defaults echoed; viewers may read the log.
	r := f.loginAs(f.users[bulwark.RoleViewer]).do("GET", "/audit", nil).want(t, 200)
	if r.num("limit") != 50 || r.num("offset") != 0 {
		t.Errorf("defaults: %s", r.Raw)
	}
	// Sorted on the server: oldest first is the reverse of the default order.
	asc := adm.do("GET", "/audit?sort=time&limit=500", nil).want(t, 200)
	if n := len(asc.list("items")); n == 0 || asc.num("items", 0, "id") != oldestID(all) {
		t.Errorf("sort=time: %d items, first id %d, want %d", n, asc.num("items", 0, "id"), oldestID(all))
	}
	one := adm.do("GET", idPath("/audit/%d", all[0].ID), nil).want(t, 200)
	if one.num("id") != all[0].ID || one.str("action") != all[0].Action || one.str("user_agent") != testUA {
		t.Errorf("get: %s", one.Raw)
	}
}

func testAuditErrors(t *testing.T, f *fixture) {
	now := f.clock.Now().UTC()
	for _, tc := range []struct {
		q     string
		field string
	}{
		{"since=" + now.Format(time.RFC3339) + "&until=" + now.Format(time.RFC3339), "until"},
		{"since=" + now.Format(time.RFC3339) + "&until=" + now.Add(-time.Hour).Format(time.RFC3339), "until"},
		{"limit=0", "limit"},
		{"limit=1000", "limit"},
		{"limit=501", "limit"},
		{"limit=-1", "limit"},
		{"limit=ten", "limit"},
		{"offset=-1", "offset"},
		{"result=maybe", "result"},
		{"since=yesterday", "since"},
		{"until=2026-13-01T00:00:00Z", "until"},
		{"actor=" + strings.Repeat("a", 65), "actor"},
		{"q=" + strings.Repeat("q", 201), "q"},
		{"sort=id", "sort"},
		{"sort=time%3B+DROP+TABLE+users", "sort"},
	} {
		r := f.admin.do("GET", "/audit?"+tc.q, nil)
		if r.Status != 422 || r.code() != "validation_failed" || !containsStr(r.fields(), tc.field) {
			t.Errorf("GET /audit?%.60s: status %d fields %v, want 422 naming %s: %s", tc.q, r.Status, r.fields(), tc.field, r.Raw)
		}
	}
	f.admin.do("GET", "/audit/987654", nil).wantErr(t, 404, "not_found")
	f.admin.do("GET", "/audit/0", nil).wantErr(t, 422, "validation_failed")
	f.admin.do("GET", "/audit/x", nil).wantErr(t, 422, "validation_failed")
}

func oldestID(es []bulwark.AuditEntry) int64 {
	id := es[0].ID
	for _, e := range es {
		id = min(id, e.ID)
	}
	return id
}
