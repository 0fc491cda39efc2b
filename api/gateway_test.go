package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/api"
	"github.com/bulwarkhq/bulwark/auth"
)

func TestGatewayAPI(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		runAll(t, open, []namedTest{
			{"ProxyLifecycle", testProxyLifecycle},
			{"ProxyCredential", testProxyCredential},
			{"ProxyInvalid", testProxyInvalid},
			{"PolicyInUse", testPolicyInUse},
			{"Groups", testGroups},
			{"GroupBudget", testGroupBudget},
			{"GatewayKeys", testGatewayKeys},
			{"SystemPrompts", testSystemPrompts},
			{"UsageAndRequests", testUsageAndRequests},
		})
	})
}

const upstreamKey = "sk-test-UPSTREAM-credential-7f3a9c"

func chatProxy(name string) map[string]any {
	return map[string]any{"name": name, "description": "Team chat", "type": "llm", "provider": "openai",
		"upstream_url": "https://api.openai.com", "policies": []string{"llm-standard-security"}, "tags": []string{"team-a"}}
}

// wantCalls requires the gateway calls made since mark to be exactly want.
func wantCalls(t *testing.T, f *fixture, mark int, want ...string) {
	t.Helper()
	if got := f.gw.since(mark); !slices.Equal(got, want) {
		t.Fatalf("gateway calls %q, want %q", got, want)
	}
}

// wantAudit requires the audit rows since mark to be the actions, all successful and by actor.
func wantAudit(t *testing.T, f *fixture, mark int64, actor string, actions ...string) []bulwark.AuditEntry {
	t.Helper()
	rows := f.auditAfter(mark)
	var got []string
	for _, r := range rows {
		got = append(got, r.Action)
		if r.Result != bulwark.ResultSuccess || r.Actor != actor {
			t.Errorf("audit row %+v: want success by %s", r, actor)
		}
	}
	if !slices.Equal(got, actions) {
		t.Fatalf("audit actions %q, want %q", got, actions)
	}
	return rows
}

func testProxyLifecycle(t *testing.T, f *fixture) {
	op := f.loginAs(f.users[bulwark.RoleOperator])
	viewer := f.loginAs(f.users[bulwark.RoleViewer])
	mark, gm := f.auditMark(), f.gw.mark()

	c := op.do("POST", "/proxies", chatProxy("chat")).want(t, 201)
	if c.str("name") != "chat" || c.get("enabled") != true || c.get("scan_responses") != true || c.get("credential_set") != false ||
		c.str("type") != "llm" || c.str("provider") != "openai" || c.str("updated_by") != "otto" || len(c.list("recent")) != 0 {
		t.Fatalf("create: %s", c.Raw)
	}
	if c.str("status", "state") != "running" || c.str("status", "addr") != "/p/chat/" || c.str("status", "since") == "" {
		t.Fatalf("status after create: %s", c.Raw)
	}
	wantCalls(t, f, gm, "reload chat")
	rows := wantAudit(t, f, mark, "otto", "proxy.create")
	if rows[0].ResourceType != "proxy" || rows[0].ResourceID != "chat" || rows[0].Details["upstream_url"] != "https://api.openai.com" {
		t.Errorf("audit row: %+v", rows[0])
	}
	op.do("POST", "/proxies", chatProxy("chat")).wantErr(t, 409, "conflict")

	// Defaults: type llm; enabled false keeps it stopped.
	other := map[string]any{"name": "other", "provider": "anthropic", "upstream_url": "https://api.anthropic.com", "enabled": false, "scan_responses": false}
	o := op.do("POST", "/proxies", other).want(t, 201)
	if o.str("type") != "llm" || o.get("enabled") != false || o.get("scan_responses") != false || o.str("status", "state") != "stopped" ||
		o.str("status", "reason") != "disabled" || len(o.list("policies")) != 0 || len(o.list("tags")) != 0 {
		t.Fatalf("defaults: %s", o.Raw)
	}

	// Stats and recent requests come from the gateway.
	f.gw.mu.Lock()
	f.gw.stats["chat"] = bulwark.ProxyStats{Requests: 30, Blocked: 2, InputTokens: 500, CostUSD: 1.25, P50Ms: 12}
	for i := range 25 {
		f.gw.recent["chat"] = append(f.gw.recent["chat"], bulwark.RequestRecord{ID: int64(100 - i), RequestID: fmt.Sprintf("req-%d", i),
			At: f.clock.Now(), Proxy: "chat", Model: "gpt-4o", Status: 200, Verdict: bulwark.VerdictAllow, Priced: true})
	}
	f.gw.mu.Unlock()
	l := viewer.do("GET", "/proxies", nil).want(t, 200)
	if l.num("total") != 2 || l.str("items", 0, "name") != "chat" || l.str("items", 1, "name") != "other" ||
		l.num("items", 0, "stats", "requests") != 30 || l.get("items", 0, "stats", "cost_usd") != 1.25 || l.str("items", 0, "status", "state") != "running" {
		t.Fatalf("list: %s", l.Raw)
	}
	g := viewer.do("GET", "/proxies/chat", nil).want(t, 200)
	if len(g.list("recent")) != 20 || g.str("recent", 0, "request_id") != "req-0" || g.str("recent", 0, "verdict") != "allow" {
		t.Fatalf("recent: %s", g.Raw)
	}
	viewer.do("GET", "/proxies/nope", nil).wantErr(t, 404, "not_found")

	// Update with the version from GET; a stale version is refused.
	version := g.str("updated_at")
	upd := chatProxy("chat")
	upd["upstream_url"] = "https://llm.internal.example:8443/v1"
	upd["updated_at"] = version
	upd["timeout_seconds"] = 90
	mark, gm = f.auditMark(), f.gw.mark()
	u := op.do("PUT", "/proxies/chat", upd).want(t, 200)
	if u.str("upstream_url") != "https://llm.internal.example:8443/v1" || u.num("timeout_seconds") != 90 || u.str("updated_at") == version ||
		u.get("enabled") != true || u.get("scan_responses") != true {
		t.Fatalf("update: %s", u.Raw)
	}
	wantCalls(t, f, gm, "reload chat")
	rows = wantAudit(t, f, mark, "otto", "proxy.update")
	if ch := fmt.Sprint(rows[0].Details["changed"]); ch != "[upstream_url timeout_seconds]" {
		t.Errorf("changed fields: %s", ch)
	}
	op.do("PUT", "/proxies/chat", upd).wantErr(t, 409, "conflict") // version is stale now
	delete(upd, "updated_at")
	upd["name"] = "renamed"
	op.do("PUT", "/proxies/chat", upd).wantErr(t, 422, "validation_failed", "name")
	op.do("PUT", "/proxies/nope", chatProxy("nope")).wantErr(t, 404, "not_found")

	// Stop, start, restart.
	mark, gm = f.auditMark(), f.gw.mark()
	s := op.do("POST", "/proxies/chat/stop", nil).want(t, 200)
	if s.get("enabled") != false || s.str("status", "state") != "stopped" {
		t.Fatalf("stop: %s", s.Raw)
	}
	if p, _ := f.db.GetProxy(t.Context(), "chat"); p.Enabled {
		t.Fatal("stop did not store enabled=false")
	}
	s = op.do("POST", "/proxies/chat/start", nil).want(t, 200)
	if s.get("enabled") != true || s.str("status", "state") != "running" {
		t.Fatalf("start: %s", s.Raw)
	}
	op.do("POST", "/proxies/chat/restart", nil).want(t, 200)
	wantCalls(t, f, gm, "enable chat false", "enable chat true", "restart chat")
	wantAudit(t, f, mark, "otto", "proxy.stop", "proxy.start", "proxy.restart")
	op.do("POST", "/proxies/nope/start", nil).wantErr(t, 404, "not_found")

	// Delete.
	mark, gm = f.auditMark(), f.gw.mark()
	op.do("DELETE", "/proxies/chat", nil).want(t, 204)
	wantCalls(t, f, gm, "reload chat")
	wantAudit(t, f, mark, "otto", "proxy.delete")
	op.do("GET", "/proxies/chat", nil).wantErr(t, 404, "not_found")
	op.do("DELETE", "/proxies/chat", nil).wantErr(t, 404, "not_found")

	// A viewer reads but does not change.
	viewer.do("POST", "/proxies", chatProxy("viewer-made")).wantErr(t, 403, "forbidden")
	viewer.do("POST", "/proxies/other/start", nil).wantErr(t, 403, "forbidden")
}

func testProxyCredential(t *testing.T, f *fixture) {
	f.secret(upstreamKey)
	op := f.loginAs(f.users[bulwark.RoleOperator])
	body := chatProxy("secretive")
	body["credential"] = upstreamKey
	c := op.do("POST", "/proxies", body).want(t, 201)
	if c.get("credential_set") != true || strings.Contains(string(c.Raw), "credential\":") {
		t.Fatalf("create: %s", c.Raw)
	}
	stored := func() string {
		p, err := f.db.GetProxy(t.Context(), "secretive")
		if err != nil {
			t.Fatal(err)
		}
		return p.Credential
	}
	enc := stored()
	if enc == "" || strings.Contains(enc, upstreamKey) {
		t.Fatalf("stored credential is not encrypted: %q", enc)
	}
	if plain, err := f.keyring.DecryptString(enc, "bulwark/proxy-credential"); err != nil || plain != upstreamKey {
		t.Fatalf("stored credential decrypts to %q, %v", plain, err)
	}
	// Omitted and null keep the credential; "" removes it; a value replaces it.
	upd := chatProxy("secretive")
	if r := op.do("PUT", "/proxies/secretive", upd).want(t, 200); r.get("credential_set") != true || stored() != enc {
		t.Fatalf("omitted credential changed it: %s", r.Raw)
	}
	upd["credential"] = nil
	if r := op.do("PUT", "/proxies/secretive", upd).want(t, 200); r.get("credential_set") != true || stored() != enc {
		t.Fatalf("null credential changed it: %s", r.Raw)
	}
	rotated := upstreamKey + "-rotated"
	f.secret(rotated)
	upd["credential"] = rotated
	mark := f.auditMark()
	if r := op.do("PUT", "/proxies/secretive", upd).want(t, 200); r.get("credential_set") != true || stored() == enc {
		t.Fatalf("new credential not stored: %s", r.Raw)
	}
	if rows := wantAudit(t, f, mark, "otto", "proxy.update"); fmt.Sprint(rows[0].Details["changed"]) != "[credential]" {
		t.Errorf("changed: %v", rows[0].Details["changed"])
	}
	upd["credential"] = ""
	if r := op.do("PUT", "/proxies/secretive", upd).want(t, 200); r.get("credential_set") != false || stored() != "" {
		t.Fatalf("empty credential did not remove it: %s", r.Raw)
	}
	for _, p := range []string{"/proxies", "/proxies/secretive", "/audit?limit=500"} {
		f.admin.do("GET", p, nil).want(t, 200) // the harness fails any response holding a secret
	}
	f.assertStoredSecretFree(t)
}

func testProxyInvalid(t *testing.T, f *fixture) {
	op := f.loginAs(f.users[bulwark.RoleOperator])
	for _, tc := range []struct {
		field string
		set   func(m map[string]any)
	}{
		{"upstream_url", func(m map[string]any) { m["upstream_url"] = "ftp://example.com" }},
		{"upstream_url", func(m map[string]any) { m["upstream_url"] = "https://user:pw@example.com" }},
		{"upstream_url", func(m map[string]any) { m["upstream_url"] = "not a url" }},
		{"policies[1]", func(m map[string]any) { m["policies"] = []string{"llm-standard-security", "no-such-policy"} }},
		{"provider", func(m map[string]any) { delete(m, "provider") }},
		{"name", func(m map[string]any) { m["name"] = "Bad_Name" }},
		{"listen_addr", func(m map[string]any) { m["listen_addr"] = "localhost" }},
		{"tags[0]", func(m map[string]any) { m["tags"] = []string{" padded "} }},
	} {
		body := chatProxy("bad")
		tc.set(body)
		op.do("POST", "/proxies", body).wantErr(t, 422, "validation_failed", tc.field)
	}
	op.do("POST", "/proxies", map[string]any{"name": "x", "upstream_url": "https://a.example", "provider": "openai", "bogus": 1}).
		wantErr(t, 422, "validation_failed", "bogus")
	op.do("POST", "/proxies", map[string]any{"name": "x", "upstream_url": "https://a.example", "provider": "mistral"}).
		wantErr(t, 422, "validation_failed", "provider")
	if ps, _ := f.db.ListProxies(t.Context()); len(ps) != 0 {
		t.Fatalf("invalid proxies were stored: %d", len(ps))
	}
}

// testPolicyInUse: a policy a proxy applies cannot be deleted; policy
// changes reload every proxy.
func testPolicyInUse(t *testing.T, f *fixture) {
	op := f.loginAs(f.users[bulwark.RoleOperator])
	pol := map[string]any{"name": "team", "version": "1.0.0", "description": "team", "extends": []string{"llm-monitoring-only"}}
	op.do("POST", "/policies", pol).want(t, 201)
	body := chatProxy("uses-team")
	body["policies"] = []string{"team"}
	op.do("POST", "/proxies", body).want(t, 201)
	gm := f.gw.mark()
	pol["version"] = "1.1.0"
	op.do("PUT", "/policies/team", pol).want(t, 200)
	wantCalls(t, f, gm, "reload_all")
	if r := op.do("DELETE", "/policies/team", nil).wantErr(t, 409, "conflict"); !strings.Contains(r.str("error", "message"), "uses-team") {
		t.Fatalf("in-use error does not name the proxy: %s", r.Raw)
	}
	body["policies"] = []string{}
	op.do("PUT", "/proxies/uses-team", body).want(t, 200)
	gm = f.gw.mark()
	op.do("DELETE", "/policies/team", nil).want(t, 204)
	wantCalls(t, f, gm, "reload_all")
}

func testGroups(t *testing.T, f *fixture) {
	op := f.loginAs(f.users[bulwark.RoleOperator])
	op.do("POST", "/proxies", chatProxy("chat")).want(t, 201)
	mark, gm := f.auditMark(), f.gw.mark()
	c := op.do("POST", "/groups", map[string]any{"name": "eng", "description": "Engineering", "proxies": []string{"chat"}, "requests_per_minute": 60}).want(t, 201)
	id := c.num("id")
	if c.str("name") != "eng" || c.num("budget_warn_percent") != 80 || c.str("budget_action") != "block" || c.num("requests_per_minute") != 60 ||
		c.get("budget") != nil || c.num("active_keys") != 0 {
		t.Fatalf("create: %s", c.Raw)
	}
	wantCalls(t, f, gm, fmt.Sprintf("keys %d", id))
	wantAudit(t, f, mark, "otto", "group.create")
	op.do("POST", "/groups", map[string]any{"name": "eng"}).wantErr(t, 409, "conflict")
	op.do("POST", "/groups", map[string]any{"name": "ops", "proxies": []string{"*", "nope"}}).wantErr(t, 422, "validation_failed", "proxies[1]")
	op.do("POST", "/groups", map[string]any{"name": "ops", "budget_action": "explode"}).wantErr(t, 422, "validation_failed", "budget_action")
	op.do("POST", "/groups", map[string]any{"name": "ops", "budget_warn_percent": 101}).wantErr(t, 422, "validation_failed", "budget_warn_percent")
	all := op.do("POST", "/groups", map[string]any{"name": "all", "proxies": []string{"*"}, "budget_warn_percent": 0, "budget_action": "warn"}).want(t, 201)
	if all.num("budget_warn_percent") != 0 || all.str("budget_action") != "warn" {
		t.Fatalf("explicit values: %s", all.Raw)
	}

	l := op.do("GET", "/groups", nil).want(t, 200)
	if l.num("total") != 2 || l.str("items", 0, "name") != "all" || l.str("items", 1, "name") != "eng" {
		t.Fatalf("list: %s", l.Raw)
	}
	g := op.do("GET", idPath("/groups/%d", id), nil).want(t, 200)
	op.do("GET", "/groups/987654", nil).wantErr(t, 404, "not_found")

	// Update: fields with defaults are kept when omitted; stale versions refused.
	mark, gm = f.auditMark(), f.gw.mark()
	u := op.do("PUT", idPath("/groups/%d", id), map[string]any{"name": "engineering", "proxies": []string{"*"}, "budget_usd": 50,
		"updated_at": g.str("updated_at")}).want(t, 200)
	if u.str("name") != "engineering" || u.num("budget_warn_percent") != 80 || u.get("budget_usd") != 50.0 || u.str("description") != "" ||
		u.get("budget", "budget_usd") != 50.0 || u.num("requests_per_minute") != 0 {
		t.Fatalf("update: %s", u.Raw)
	}
	wantCalls(t, f, gm, fmt.Sprintf("keys %d", id))
	if rows := wantAudit(t, f, mark, "otto", "group.update"); fmt.Sprint(rows[0].Details["changed"]) != "[name description proxies requests_per_minute budget_usd]" {
		t.Errorf("changed: %v", rows[0].Details["changed"])
	}
	op.do("PUT", idPath("/groups/%d", id), map[string]any{"name": "engineering", "updated_at": g.str("updated_at")}).wantErr(t, 409, "conflict")
	op.do("PUT", idPath("/groups/%d", id), map[string]any{"name": "all"}).wantErr(t, 409, "conflict")
	op.do("PUT", "/groups/987654", map[string]any{"name": "x"}).wantErr(t, 404, "not_found")

	// Delete takes the keys with it.
	key := op.do("POST", idPath("/groups/%d/keys", id), map[string]any{"name": "ci"}).want(t, 201).str("key")
	f.secret(key)
	mark, gm = f.auditMark(), f.gw.mark()
	op.do("DELETE", idPath("/groups/%d", id), nil).want(t, 204)
	wantCalls(t, f, gm, fmt.Sprintf("keys %d", id))
	wantAudit(t, f, mark, "otto", "group.delete")
	op.do("GET", idPath("/groups/%d", id), nil).wantErr(t, 404, "not_found")
	op.do("DELETE", idPath("/groups/%d", id), nil).wantErr(t, 404, "not_found")
	if _, err := f.db.GetGatewayKeyByHash(t.Context(), auth.TokenHash(key)); !bulwark.IsNotFound(err) {
		t.Fatalf("key of a deleted group: %v", err)
	}
}

func testGroupBudget(t *testing.T, f *fixture) {
	op := f.loginAs(f.users[bulwark.RoleOperator])
	c := op.do("POST", "/groups", map[string]any{"name": "spend", "budget_usd": 100}).want(t, 201)
	id := c.num("id")
	now := f.clock.Now()
	period := budgetPeriod(&bulwark.Group{}, now)
	if c.get("budget", "spent_usd") != 0.0 || c.str("budget", "period_start") != period.Format(time.RFC3339) {
		t.Fatalf("budget of a new group: %s", c.Raw)
	}
	err := f.db.RecordRequests(t.Context(), []*bulwark.RequestRecord{
		{RequestID: "b1", At: now, Proxy: "chat", GroupID: id, Group: "spend", Model: "gpt-4o", CostUSD: 20, Priced: true, BudgetPeriod: period, Verdict: bulwark.VerdictAllow},
		{RequestID: "b2", At: now, Proxy: "chat", GroupID: id, Group: "spend", Model: "gpt-4o", CostUSD: 5, Priced: true, BudgetPeriod: period, Verdict: bulwark.VerdictAllow},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.gw.mu.Lock()
	f.gw.reserved[id] = 1.5
	f.gw.mu.Unlock()
	g := op.do("GET", idPath("/groups/%d", id), nil).want(t, 200)
	next := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	if g.get("budget", "budget_usd") != 100.0 || g.get("budget", "spent_usd") != 25.0 || g.get("budget", "reserved_usd") != 1.5 ||
		g.get("budget", "remaining_usd") != 75.0 || g.get("budget", "utilization") != 0.25 || g.str("budget", "resets_at") != next.Format(time.RFC3339) {
		t.Fatalf("budget: %s", g.Raw)
	}
	if l := op.do("GET", "/groups", nil).want(t, 200); l.get("items", 0, "budget", "spent_usd") != 25.0 {
		t.Fatalf("list budget: %s", l.Raw)
	}

	f.clock.Advance(time.Second)
	mark, gm := f.auditMark(), f.gw.mark()
	r := op.do("POST", idPath("/groups/%d/budget/reset", id), nil).want(t, 200)
	if r.get("budget", "spent_usd") != 0.0 || r.str("budget_reset_at") == "" || r.str("budget", "period_start") != f.clock.Now().Format(time.RFC3339) {
		t.Fatalf("after reset: %s", r.Raw)
	}
	wantCalls(t, f, gm, fmt.Sprintf("keys %d", id))
	rows := wantAudit(t, f, mark, "otto", "group.budget_reset")
	if rows[0].Details["previous_spent_usd"] != 25.0 || rows[0].ResourceID != fmt.Sprint(id) {
		t.Errorf("reset audit: %+v", rows[0])
	}
	if gr, _ := f.db.GetGroup(t.Context(), id); gr.BudgetResetAt == nil || !gr.BudgetResetAt.Equal(f.clock.Now()) {
		t.Fatalf("stored reset: %+v", gr)
	}
	op.do("POST", "/groups/987654/budget/reset", nil).wantErr(t, 404, "not_found")
	f.loginAs(f.users[bulwark.RoleViewer]).do("POST", idPath("/groups/%d/budget/reset", id), nil).wantErr(t, 403, "forbidden")
}

func testGatewayKeys(t *testing.T, f *fixture) {
	op := f.loginAs(f.users[bulwark.RoleOperator])
	id := op.do("POST", "/groups", map[string]any{"name": "team"}).want(t, 201).num("id")
	otherID := op.do("POST", "/groups", map[string]any{"name": "other"}).want(t, 201).num("id")
	exp := f.clock.Now().Add(48 * time.Hour).Format(time.RFC3339)
	mark, gm := f.auditMark(), f.gw.mark()
	c := op.do("POST", idPath("/groups/%d/keys", id), map[string]any{"name": "laptop", "user": "ada", "user_email": "ada@example.com",
		"requests_per_minute": 10, "expires_at": exp}).want(t, 201)
	key := c.str("key")
	f.secret(key)
	f.secret(auth.TokenHash(key))
	if !strings.HasPrefix(key, "bgk_") || c.str("gateway_key", "prefix") != key[:10] || c.str("gateway_key", "user") != "ada" ||
		c.get("gateway_key", "active") != true || c.str("gateway_key", "expires_at") != exp || c.str("gateway_key", "created_by") != "otto" {
		t.Fatalf("create: %s", c.Raw)
	}
	kid := c.num("gateway_key", "id")
	wantCalls(t, f, gm, fmt.Sprintf("keys %d", id))
	if rows := wantAudit(t, f, mark, "otto", "gateway_key.create"); rows[0].Details["prefix"] != key[:10] {
		t.Errorf("audit: %+v", rows[0])
	}
	stored, err := f.db.GetGatewayKeyByHash(t.Context(), auth.TokenHash(key))
	if err != nil || stored.ID != kid || stored.GroupID != id {
		t.Fatalf("stored key: %+v, %v", stored, err)
	}
	// Afterwards only the prefix is shown.
	l := f.loginAs(f.users[bulwark.RoleViewer]).do("GET", idPath("/groups/%d/keys", id), nil).want(t, 200)
	if l.num("total") != 1 || l.str("items", 0, "prefix") != key[:10] || l.get("items", 0, "key") != nil || l.get("items", 0, "hash") != nil {
		t.Fatalf("list: %s", l.Raw)
	}
	if g := op.do("GET", idPath("/groups/%d", id), nil).want(t, 200); g.num("active_keys") != 1 {
		t.Fatalf("active keys: %s", g.Raw)
	}
	op.do("POST", idPath("/groups/%d/keys", id), map[string]any{"name": "old", "expires_at": f.clock.Now().Add(-time.Hour).Format(time.RFC3339)}).
		wantErr(t, 422, "validation_failed", "expires_at")
	op.do("POST", idPath("/groups/%d/keys", id), map[string]any{"name": "x", "user_email": "not-an-address"}).wantErr(t, 422, "validation_failed", "user_email")
	op.do("POST", "/groups/987654/keys", map[string]any{"name": "x"}).wantErr(t, 404, "not_found")
	op.do("GET", "/groups/987654/keys", nil).wantErr(t, 404, "not_found")

	// Revoke: the key must belong to the group in the path.
	op.do("DELETE", fmt.Sprintf("/groups/%d/keys/%d", otherID, kid), nil).wantErr(t, 404, "not_found")
	mark, gm = f.auditMark(), f.gw.mark()
	op.do("DELETE", fmt.Sprintf("/groups/%d/keys/%d", id, kid), nil).want(t, 204)
	wantCalls(t, f, gm, fmt.Sprintf("keys %d", id))
	wantAudit(t, f, mark, "otto", "gateway_key.revoke")
	op.do("DELETE", fmt.Sprintf("/groups/%d/keys/%d", id, kid), nil).want(t, 204) // harmless twice
	if rows := f.auditAfter(mark); len(rows) != 1 {
		t.Errorf("second revoke audited again: %+v", rows)
	}
	l = op.do("GET", idPath("/groups/%d/keys", id), nil).want(t, 200)
	if l.get("items", 0, "active") != false || l.str("items", 0, "revoked_at") == "" {
		t.Fatalf("after revoke: %s", l.Raw)
	}
	f.loginAs(f.users[bulwark.RoleViewer]).do("POST", idPath("/groups/%d/keys", id), map[string]any{"name": "v"}).wantErr(t, 403, "forbidden")
	f.assertStoredSecretFree(t)
}

func testSystemPrompts(t *testing.T, f *fixture) {
	op := f.loginAs(f.users[bulwark.RoleOperator])
	op.do("POST", "/proxies", chatProxy("chat")).want(t, 201)
	op.do("POST", "/groups", map[string]any{"name": "eng"}).want(t, 201)
	mark, gm := f.auditMark(), f.gw.mark()
	body := map[string]any{"name": "policy", "description": "House rules", "template": "You assist {{.User}} of {{.Group}} on {{.Date}}.",
		"priority": 10, "proxies": []string{"chat"}, "groups": []string{"eng"}}
	c := op.do("POST", "/system-prompts", body).want(t, 201)
	id := c.num("id")
	if c.get("enabled") != true || c.num("priority") != 10 || c.str("template") != body["template"] || c.str("proxies", 0) != "chat" {
		t.Fatalf("create: %s", c.Raw)
	}
	wantCalls(t, f, gm, "reload_all")
	wantAudit(t, f, mark, "otto", "system_prompt.create")
	op.do("POST", "/system-prompts", body).wantErr(t, 409, "conflict")

	bad := map[string]any{"name": "bad", "template": "Hello {{.Usr}}"}
	if r := op.do("POST", "/system-prompts", bad).wantErr(t, 422, "validation_failed", "template"); !strings.Contains(r.str("error", "message"), "unknown variable .Usr") {
		t.Fatalf("bad variable message: %s", r.Raw)
	}
	bad["template"] = "Hello {{"
	op.do("POST", "/system-prompts", bad).wantErr(t, 422, "validation_failed", "template")
	bad["template"] = "  "
	op.do("POST", "/system-prompts", bad).wantErr(t, 422, "validation_failed", "template")
	op.do("POST", "/system-prompts", map[string]any{"name": "bad", "template": "x", "groups": []string{"nobody"}}).wantErr(t, 422, "validation_failed", "groups[0]")
	op.do("POST", "/system-prompts", map[string]any{"name": "bad", "template": "x", "proxies": []string{"nowhere"}}).wantErr(t, 422, "validation_failed", "proxies[0]")

	g := op.do("GET", idPath("/system-prompts/%d", id), nil).want(t, 200)
	op.do("POST", "/system-prompts", map[string]any{"name": "low", "template": "Be brief.", "priority": -1, "enabled": false}).want(t, 201)
	if l := f.loginAs(f.users[bulwark.RoleViewer]).do("GET", "/system-prompts", nil).want(t, 200); l.num("total") != 2 || l.str("items", 0, "name") != "policy" ||
		l.get("items", 1, "enabled") != false {
		t.Fatalf("list: %s", l.Raw)
	}
	mark, gm = f.auditMark(), f.gw.mark()
	upd := map[string]any{"name": "policy", "template": "Be kind to {{.User}}.", "updated_at": g.str("updated_at")}
	u := op.do("PUT", idPath("/system-prompts/%d", id), upd).want(t, 200)
	if u.str("template") != "Be kind to {{.User}}." || len(u.list("proxies")) != 0 || u.get("enabled") != true || u.num("priority") != 0 {
		t.Fatalf("update: %s", u.Raw)
	}
	wantCalls(t, f, gm, "reload_all")
	wantAudit(t, f, mark, "otto", "system_prompt.update")
	op.do("PUT", idPath("/system-prompts/%d", id), upd).wantErr(t, 409, "conflict")
	delete(upd, "updated_at")
	upd["template"] = "{{.Secret}}"
	op.do("PUT", idPath("/system-prompts/%d", id), upd).wantErr(t, 422, "validation_failed", "template")
	op.do("PUT", "/system-prompts/987654", map[string]any{"name": "x", "template": "x"}).wantErr(t, 404, "not_found")

	mark, gm = f.auditMark(), f.gw.mark()
	op.do("DELETE", idPath("/system-prompts/%d", id), nil).want(t, 204)
	wantCalls(t, f, gm, "reload_all")
	wantAudit(t, f, mark, "otto", "system_prompt.delete")
	op.do("GET", idPath("/system-prompts/%d", id), nil).wantErr(t, 404, "not_found")
	op.do("DELETE", idPath("/system-prompts/%d", id), nil).wantErr(t, 404, "not_found")
}

func testUsageAndRequests(t *testing.T, f *fixture) {
	now := f.clock.Now()
	day := now.Add(-24 * time.Hour)
	recs := []*bulwark.RequestRecord{
		{RequestID: "r1", At: day, Proxy: "chat", GroupID: 1, Group: "eng", Model: "gpt-4o", InputTokens: 100, OutputTokens: 50, CostUSD: 0.5, Priced: true, Verdict: bulwark.VerdictAllow, Status: 200},
		{RequestID: "r2", At: day.Add(time.Minute), Proxy: "chat", GroupID: 1, Group: "eng", Model: "gpt-4o", InputTokens: 10, CacheReadTokens: 5, CostUSD: 0.25, Priced: true, Verdict: bulwark.VerdictBlock, Status: 403, RuleID: "PI-001"},
		{RequestID: "r3", At: now.Add(-time.Minute), Proxy: "claude", GroupID: 2, Group: "ops", Model: "mystery-model", InputTokens: 7, OutputTokens: 3, Verdict: bulwark.VerdictAllow, Status: 200},
		{RequestID: "old", At: now.Add(-40 * 24 * time.Hour), Proxy: "chat", GroupID: 1, Group: "eng", Model: "gpt-4o", InputTokens: 1000, CostUSD: 9, Priced: true, Verdict: bulwark.VerdictAllow},
	}
	if err := f.db.RecordRequests(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	viewer := f.loginAs(f.users[bulwark.RoleViewer])
	u := viewer.do("GET", "/usage", nil).want(t, 200)
	var usage struct {
		Since, Until time.Time
		Buckets      []api.UsageBucket
		Totals       api.UsageTotals
	}
	u.decode(t, &usage)
	if !usage.Until.Equal(now) || !usage.Since.Equal(now.Add(-30*24*time.Hour)) || len(usage.Buckets) != 2 {
		t.Fatalf("usage window or buckets: %s", u.Raw)
	}
	want := api.UsageTotals{Requests: 3, Blocked: 1, InputTokens: 117, OutputTokens: 53, CachedTokens: 5, Tokens: 175, CostUSD: 0.75, UnpricedRequests: 1}
	if usage.Totals != want {
		t.Fatalf("totals %+v, want %+v", usage.Totals, want)
	}
	b := usage.Buckets[0]
	if b.Day != day.UTC().Format("2006-01-02") || b.Group != "eng" || b.Model != "gpt-4o" || b.Requests != 2 || b.Blocked != 1 || b.CostUSD != 0.75 {
		t.Fatalf("bucket %+v", b)
	}
	q := fmt.Sprintf("/usage?since=%s&until=%s", now.Add(-50*24*time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339))
	if u := viewer.do("GET", q, nil).want(t, 200); u.num("totals", "requests") != 4 {
		t.Fatalf("wider window: %s", u.Raw)
	}
	viewer.do("GET", fmt.Sprintf("/usage?since=%s&until=%s", now.Format(time.RFC3339), now.Add(-time.Hour).Format(time.RFC3339)), nil).
		wantErr(t, 422, "validation_failed", "until")

	l := viewer.do("GET", "/requests", nil).want(t, 200)
	if l.num("total") != 4 || l.str("items", 0, "request_id") != "r3" || l.num("limit") != 50 || l.get("items", 0, "priced") != false {
		t.Fatalf("requests: %s", l.Raw)
	}
	l = viewer.do("GET", "/requests?proxy=chat&verdict=block", nil).want(t, 200)
	if l.num("total") != 1 || l.str("items", 0, "rule_id") != "PI-001" || l.num("items", 0, "cache_read_tokens") != 5 {
		t.Fatalf("filtered: %s", l.Raw)
	}
	l = viewer.do("GET", "/requests?group_id=1&limit=1&offset=1", nil).want(t, 200)
	if l.num("total") != 3 || len(l.list("items")) != 1 || l.str("items", 0, "request_id") != "r1" {
		t.Fatalf("paged: %s", l.Raw)
	}
	l = viewer.do("GET", "/requests?since="+now.Add(-time.Hour).Format(time.RFC3339), nil).want(t, 200)
	if l.num("total") != 1 {
		t.Fatalf("since: %s", l.Raw)
	}
	viewer.do("GET", "/requests?verdict=maybe", nil).wantErr(t, 422, "validation_failed")
	viewer.do("GET", "/requests?limit=501", nil).wantErr(t, 422, "validation_failed")
	viewer.do("GET", "/requests?proxy=Bad_Name", nil).wantErr(t, 422, "validation_failed", "proxy")
}

// TestGatewayUnavailable: without a gateway store the endpoints answer 503;
// without a running gateway changes are stored and lifecycle calls answer
// 503; without a keyring a credential cannot be set.
func TestGatewayUnavailable(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withAPI(func(o *api.Options) { o.GatewayStore, o.Gateway = nil, nil }))
	for _, p := range []string{"/proxies", "/groups", "/system-prompts", "/usage", "/requests", "/proxies/x", "/groups/1/keys"} {
		f.admin.do("GET", p, nil).wantErr(t, 503, "unavailable")
	}
	f.admin.do("POST", "/proxies", chatProxy("chat")).wantErr(t, 503, "unavailable")

	f = newFixture(t, withAPI(func(o *api.Options) { o.Gateway, o.Keyring = nil, nil }))
	c := f.admin.do("POST", "/proxies", chatProxy("chat")).want(t, 201)
	if c.str("status", "state") != "unknown" {
		t.Fatalf("status without a gateway: %s", c.Raw)
	}
	f.admin.do("POST", "/proxies/chat/start", nil).wantErr(t, 503, "unavailable")
	body := chatProxy("chat")
	body["credential"] = upstreamKey
	f.admin.do("PUT", "/proxies/chat", body).wantErr(t, 503, "unavailable")
	f.admin.do("GET", "/proxies/chat", nil).want(t, 200)
	// The budget falls back to the recorded spend.
	g := f.admin.do("POST", "/groups", map[string]any{"name": "eng", "budget_usd": 10}).want(t, 201)
	if g.get("budget", "spent_usd") != 0.0 || g.str("budget", "period_start") == "" {
		t.Fatalf("budget without a gateway: %s", g.Raw)
	}
	raw, _ := json.Marshal(g.JSON)
	if strings.Contains(string(raw), "credential\"") {
		t.Fatal("unexpected credential field")
	}
}
