package store_test

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/store"
)

// The gateway tests run in runConformance, on both engines.

// us is t as the store keeps it: UTC, microseconds.
func us(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// eqStruct compares two structs field by field after checking their time
// fields (named in times, each a time.Time or *time.Time) with sameTime and
// treating nil and empty string and finding lists alike.
func eqStruct[T any](t *testing.T, what string, got, want *T) {
	t.Helper()
	g, w := *got, *want
	gv, wv := reflect.ValueOf(&g).Elem(), reflect.ValueOf(&w).Elem()
	for i := range gv.NumField() {
		gf, wf := gv.Field(i), wv.Field(i)
		name := gv.Type().Field(i).Name
		switch v := gf.Addr().Interface().(type) {
		case *time.Time:
			if !sameTime(*v, wf.Interface().(time.Time)) && !(v.IsZero() && wf.Interface().(time.Time).IsZero()) {
				t.Fatalf("%s.%s = %v, want %v", what, name, *v, wf.Interface())
			}
			gf.Set(reflect.Zero(gf.Type()))
			wf.Set(reflect.Zero(wf.Type()))
		case **time.Time:
			if !samePtrTime(*v, wf.Interface().(*time.Time)) {
				t.Fatalf("%s.%s = %v, want %v", what, name, *v, wf.Interface())
			}
			gf.Set(reflect.Zero(gf.Type()))
			wf.Set(reflect.Zero(wf.Type()))
		case *[]string:
			if !slices.Equal(*v, wf.Interface().([]string)) {
				t.Fatalf("%s.%s = %q, want %q", what, name, *v, wf.Interface())
			}
			gf.Set(reflect.Zero(gf.Type()))
			wf.Set(reflect.Zero(wf.Type()))
		case *[]bulwark.Finding:
			if !slices.Equal(*v, wf.Interface().([]bulwark.Finding)) {
				t.Fatalf("%s.%s = %+v, want %+v", what, name, *v, wf.Interface())
			}
			gf.Set(reflect.Zero(gf.Type()))
			wf.Set(reflect.Zero(wf.Type()))
		}
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s mismatch:\n got %+v\nwant %+v", what, *got, *want)
	}
}

func newProxy(name string) *bulwark.Proxy {
	return &bulwark.Proxy{Name: name, Description: "proxy " + name, Type: bulwark.ProtocolLLM,
		Provider: bulwark.ProviderOpenAI, UpstreamURL: "https://api.openai.com", UpdatedBy: "alice"}
}

func newGroup(t *testing.T, db *store.DB, name string) *bulwark.Group {
	t.Helper()
	g := &bulwark.Group{Name: name, Proxies: []string{"*"}, BudgetAction: bulwark.BudgetBlock, UpdatedBy: "alice"}
	mustNil(t, db.CreateGroup(t.Context(), g))
	return g
}

func newPrompt(name string, priority int) *bulwark.SystemPrompt {
	return &bulwark.SystemPrompt{Name: name, Template: "Be careful, {{.User}}.", Priority: priority, Enabled: true}
}

// --- proxies ---

func testProxies(t *testing.T, db *store.DB) {
	ctx := t.Context()
	list, err := db.ListProxies(ctx)
	mustNil(t, err)
	if len(list) != 0 {
		t.Fatalf("fresh ListProxies = %v", list)
	}
	before := time.Now().Add(-time.Second)
	b := &bulwark.Proxy{Name: "b-proxy", Description: `O'Brien "quoted"; DROP TABLE proxies;-- ü`,
		Type: bulwark.ProtocolLLM, Provider: bulwark.ProviderAzure, UpstreamURL: "https://example.openai.azure.com/openai",
		ListenAddr: "127.0.0.1:8081", Policies: []string{"llm-standard-security", "pii"},
		Credential: "enc:v1:AAAA+/==", Tags: []string{"prod", "Zoë 🚀", `with "quotes", and \ back`},
		Enabled: true, AutoStart: true, TimeoutSeconds: 120, MaxBodyBytes: 1 << 40, ScanResponses: true, UpdatedBy: "alice"}
	mustNil(t, db.CreateProxy(ctx, b))
	if b.ID == 0 || b.CreatedAt.Before(before) || !b.UpdatedAt.Equal(b.CreatedAt) || b.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreateProxy did not set ID and times: %+v", b)
	}
	a := newProxy("a-proxy") // nil lists, zero values
	a.Type, a.Provider = bulwark.ProtocolMCP, ""
	a.MCP = &bulwark.MCPConfig{Transport: bulwark.MCPStreamableHTTP}
	mustNil(t, db.CreateProxy(ctx, a))
	wantConflict(t, db.CreateProxy(ctx, newProxy("b-proxy")), `proxy "b-proxy" already exists`)
	wantCode(t, db.CreateProxy(ctx, newProxy("Bad Name")), bulwark.CodeUnprocessable)

	got, err := db.GetProxy(ctx, "b-proxy")
	mustNil(t, err)
	eqStruct(t, "GetProxy", got, b)
	got, err = db.GetProxy(ctx, "a-proxy")
	mustNil(t, err)
	eqStruct(t, "GetProxy", got, a)
	if got.Policies == nil || got.Tags == nil {
		t.Fatalf("empty lists read back as nil: %+v", got)
	}
	_, err = db.GetProxy(ctx, "missing")
	wantNotFound(t, err)

	list, err = db.ListProxies(ctx)
	mustNil(t, err)
	if len(list) != 2 || list[0].Name != "a-proxy" || list[1].Name != "b-proxy" {
		t.Fatalf("ListProxies order: %+v", list)
	}

	// Update by ID, renaming; every field but CreatedAt is written.
	upd := *b
	upd.Name, upd.Description, upd.Policies, upd.Tags = "c-proxy", "", []string{"pii"}, nil
	upd.Enabled, upd.AutoStart, upd.ScanResponses, upd.TimeoutSeconds = false, false, false, 0
	upd.CreatedAt, upd.UpdatedBy = base, "bob" // CreatedAt is ignored
	mustNil(t, db.UpdateProxy(ctx, &upd, b.UpdatedAt))
	if !upd.UpdatedAt.After(b.UpdatedAt) {
		t.Fatalf("UpdatedAt did not advance: %v → %v", b.UpdatedAt, upd.UpdatedAt)
	}
	_, err = db.GetProxy(ctx, "b-proxy")
	wantNotFound(t, err)
	got, err = db.GetProxy(ctx, "c-proxy")
	mustNil(t, err)
	want := upd
	want.CreatedAt = b.CreatedAt
	eqStruct(t, "updated proxy", got, &want)

	// Stale version: conflict, nothing changed.
	stale := upd
	stale.Description = "stale"
	wantConflict(t, db.UpdateProxy(ctx, &stale, b.UpdatedAt), "changed by someone else")
	got, _ = db.GetProxy(ctx, "c-proxy")
	if got.Description != "" || !sameTime(got.UpdatedAt, upd.UpdatedAt) {
		t.Fatalf("stale update changed the proxy: %+v", got)
	}
	// Renaming onto another proxy's name.
	clash := *got
	clash.Name = "a-proxy"
	wantConflict(t, db.UpdateProxy(ctx, &clash, got.UpdatedAt), `proxy "a-proxy" already exists`)
	// Invalid update.
	bad := *got
	bad.UpstreamURL = "ftp://x"
	wantCode(t, db.UpdateProxy(ctx, &bad, got.UpdatedAt), bulwark.CodeUnprocessable)
	// By name when ID is 0.
	byName := newProxy("a-proxy")
	byName.Description = "by name"
	mustNil(t, db.UpdateProxy(ctx, byName, a.UpdatedAt))
	got, _ = db.GetProxy(ctx, "a-proxy")
	if got.Description != "by name" || got.ID != a.ID {
		t.Fatalf("update by name: %+v", got)
	}
	missing := newProxy("missing")
	wantNotFound(t, db.UpdateProxy(ctx, missing, base))
	missing.ID = 999999
	wantNotFound(t, db.UpdateProxy(ctx, missing, base))

	// Versions stay strictly increasing even when updates come faster than
	// the clock.
	cur, _ := db.GetProxy(ctx, "a-proxy")
	for range 3 {
		next := *cur
		mustNil(t, db.UpdateProxy(ctx, &next, cur.UpdatedAt))
		if !next.UpdatedAt.After(cur.UpdatedAt) {
			t.Fatalf("UpdatedAt not strictly increasing: %v → %v", cur.UpdatedAt, next.UpdatedAt)
		}
		cur = &next
	}

	mustNil(t, db.DeleteProxy(ctx, "a-proxy"))
	wantNotFound(t, db.DeleteProxy(ctx, "a-proxy"))
	list, _ = db.ListProxies(ctx)
	if len(list) != 1 || list[0].Name != "c-proxy" {
		t.Fatalf("after delete: %+v", list)
	}
}

// --- groups ---

func testGroups(t *testing.T, db *store.DB) {
	ctx := t.Context()
	reset := base.Add(5 * time.Hour)
	g := &bulwark.Group{Name: "team-b", Description: "Team B — ü", Proxies: []string{"openai", "anthropic"},
		RequestsPerMinute: 600, TokensPerMinute: 100000, BudgetUSD: 1234.56, BudgetWarnPercent: 80,
		BudgetAction: bulwark.BudgetWarn, BudgetResetAt: ptr(reset), UpdatedBy: "alice"}
	mustNil(t, db.CreateGroup(ctx, g))
	if g.ID == 0 || g.CreatedAt.IsZero() || !g.UpdatedAt.Equal(g.CreatedAt) {
		t.Fatalf("CreateGroup did not set ID and times: %+v", g)
	}
	a := newGroup(t, db, "team-a")
	wantConflict(t, db.CreateGroup(ctx, &bulwark.Group{Name: "team-b", BudgetAction: bulwark.BudgetBlock}),
		`group "team-b" already exists`)
	wantCode(t, db.CreateGroup(ctx, &bulwark.Group{Name: "x", BudgetAction: "explode"}), bulwark.CodeUnprocessable)

	want := *g
	want.BudgetResetAt = ptr(us(reset))
	got, err := db.GetGroup(ctx, g.ID)
	mustNil(t, err)
	eqStruct(t, "GetGroup", got, &want)
	got, err = db.GetGroupByName(ctx, "team-b")
	mustNil(t, err)
	eqStruct(t, "GetGroupByName", got, &want)
	_, err = db.GetGroup(ctx, 999999)
	wantNotFound(t, err)
	_, err = db.GetGroupByName(ctx, "missing")
	wantNotFound(t, err)

	list, err := db.ListGroups(ctx)
	mustNil(t, err)
	if len(list) != 2 || list[0].ID != a.ID || list[1].ID != g.ID {
		t.Fatalf("ListGroups order: %+v", list)
	}

	upd := *got
	upd.Name, upd.Proxies, upd.BudgetUSD, upd.BudgetResetAt, upd.UpdatedBy = "team-c", []string{"*"}, 0.1, nil, "bob"
	mustNil(t, db.UpdateGroup(ctx, &upd, got.UpdatedAt))
	got2, err := db.GetGroupByName(ctx, "team-c")
	mustNil(t, err)
	eqStruct(t, "updated group", got2, &upd)
	if !got2.UpdatedAt.After(got.UpdatedAt) {
		t.Fatal("UpdatedAt did not advance")
	}

	stale := upd
	stale.Description = "stale"
	wantConflict(t, db.UpdateGroup(ctx, &stale, got.UpdatedAt), "changed by someone else")
	clash := *got2
	clash.Name = "team-a"
	wantConflict(t, db.UpdateGroup(ctx, &clash, got2.UpdatedAt), `group "team-a" already exists`)
	bad := *got2
	bad.BudgetUSD = -1
	wantCode(t, db.UpdateGroup(ctx, &bad, got2.UpdatedAt), bulwark.CodeUnprocessable)
	missing := *got2
	missing.ID = 999999
	wantNotFound(t, db.UpdateGroup(ctx, &missing, got2.UpdatedAt))
	got3, _ := db.GetGroup(ctx, g.ID)
	eqStruct(t, "group after failed updates", got3, got2)

	mustNil(t, db.DeleteGroup(ctx, a.ID))
	wantNotFound(t, db.DeleteGroup(ctx, a.ID))
	list, _ = db.ListGroups(ctx)
	if len(list) != 1 || list[0].ID != g.ID {
		t.Fatalf("after delete: %+v", list)
	}
}

// --- gateway keys ---

func testGatewayKeys(t *testing.T, db *store.DB) {
	ctx := t.Context()
	g1, g2 := newGroup(t, db, "one"), newGroup(t, db, "two")
	// Expiries must lie in the future; sub-microsecond digits expose truncation.
	soon := time.Now().Add(48 * time.Hour).Add(123 * time.Nanosecond)
	mk := func(group int64, name, hash string, created time.Time, exp *time.Time) *bulwark.GatewayKey {
		k := &bulwark.GatewayKey{GroupID: group, Name: name, Prefix: "bwg_" + hash[:4], Hash: hash, User: "Zoë",
			UserEmail: "zoe@example.com", RequestsPerMinute: 10, TokensPerMinute: 2000, CreatedAt: created,
			ExpiresAt: exp, CreatedBy: "alice"}
		mustNil(t, db.CreateGatewayKey(ctx, k))
		if k.ID == 0 {
			t.Fatal("key ID not set")
		}
		return k
	}
	k1 := mk(g1.ID, "ci", "aaaa1111", base, ptr(soon))
	k2 := mk(g1.ID, "laptop", "bbbb2222", base.Add(time.Minute), nil)
	k3 := mk(g2.ID, "svc", "cccc3333", base.Add(2*time.Minute), nil)
	k4 := &bulwark.GatewayKey{GroupID: g2.ID, Name: "auto", Hash: "dddd4444"}
	mustNil(t, db.CreateGatewayKey(ctx, k4))
	if k4.CreatedAt.IsZero() || k4.CreatedAt.Location() != time.UTC {
		t.Fatal("CreatedAt not defaulted")
	}

	got, err := db.GetGatewayKeyByHash(ctx, "aaaa1111")
	mustNil(t, err)
	want := *k1
	want.CreatedAt, want.ExpiresAt = us(base), ptr(us(soon))
	eqStruct(t, "GetGatewayKeyByHash", got, &want)
	if !got.Active(time.Now()) || got.Active(soon.Add(time.Second)) {
		t.Fatal("Active does not follow ExpiresAt")
	}
	_, err = db.GetGatewayKeyByHash(ctx, "nope")
	wantNotFound(t, err)

	wantConflict(t, db.CreateGatewayKey(ctx, &bulwark.GatewayKey{GroupID: g1.ID, Name: "dup", Hash: "aaaa1111"}),
		"already exists")
	wantNotFound(t, db.CreateGatewayKey(ctx, &bulwark.GatewayKey{GroupID: 999999, Name: "x", Hash: "eeee"}))
	wantCode(t, db.CreateGatewayKey(ctx, &bulwark.GatewayKey{GroupID: g1.ID, Name: "old", Hash: "ffff",
		ExpiresAt: ptr(time.Now().Add(-time.Minute))}), bulwark.CodeUnprocessable)
	wantCode(t, db.CreateGatewayKey(ctx, &bulwark.GatewayKey{GroupID: g1.ID, Name: "", Hash: "gggg"}),
		bulwark.CodeUnprocessable)

	ids := func(ks []*bulwark.GatewayKey) []int64 {
		var out []int64
		for _, k := range ks {
			out = append(out, k.ID)
		}
		return out
	}
	list, err := db.ListGatewayKeys(ctx, g1.ID)
	mustNil(t, err)
	if want := []int64{k2.ID, k1.ID}; !slices.Equal(ids(list), want) {
		t.Fatalf("ListGatewayKeys(group) = %v, want %v", ids(list), want)
	}
	list, err = db.ListGatewayKeys(ctx, 0)
	mustNil(t, err)
	if want := []int64{k4.ID, k3.ID, k2.ID, k1.ID}; !slices.Equal(ids(list), want) {
		t.Fatalf("ListGatewayKeys(0) = %v, want %v", ids(list), want)
	}

	revoked := base.Add(2 * time.Hour)
	mustNil(t, db.RevokeGatewayKey(ctx, k1.ID, revoked))
	mustNil(t, db.RevokeGatewayKey(ctx, k1.ID, revoked.Add(time.Hour))) // keeps the first time
	wantNotFound(t, db.RevokeGatewayKey(ctx, 999999, revoked))
	got, _ = db.GetGatewayKeyByHash(ctx, "aaaa1111")
	if got.RevokedAt == nil || !sameTime(*got.RevokedAt, us(revoked)) || got.Active(time.Now()) {
		t.Fatalf("after revoke: %+v", got)
	}

	// Touch: several keys at once, never backwards, unknown ids ignored.
	t1, t2 := base.Add(time.Hour+time.Nanosecond), base.Add(3*time.Hour)
	mustNil(t, db.TouchGatewayKeys(ctx, map[int64]time.Time{k1.ID: t1, k2.ID: t2, 999999: t2}))
	mustNil(t, db.TouchGatewayKeys(ctx, map[int64]time.Time{k2.ID: t1})) // older: ignored
	mustNil(t, db.TouchGatewayKeys(ctx, nil))
	for _, c := range []struct {
		hash string
		want *time.Time
	}{{"aaaa1111", ptr(us(t1))}, {"bbbb2222", ptr(us(t2))}, {"cccc3333", nil}} {
		got, err := db.GetGatewayKeyByHash(ctx, c.hash)
		mustNil(t, err)
		if !samePtrTime(got.LastUsedAt, c.want) {
			t.Fatalf("key %s LastUsedAt = %v, want %v", c.hash, got.LastUsedAt, c.want)
		}
	}
}

// --- system prompts ---

func testSystemPrompts(t *testing.T, db *store.DB) {
	ctx := t.Context()
	p := &bulwark.SystemPrompt{Name: "gdpr", Description: "GDPR notice",
		Template: "You serve {{.User}} <{{.UserEmail}}> of {{.Group}} on {{.Date}}.\nNo personal data — ü 🚀.",
		Priority: 5, Proxies: []string{"openai", "*"}, Groups: []string{"team-a"}, Enabled: true, UpdatedBy: "alice"}
	mustNil(t, db.CreateSystemPrompt(ctx, p))
	if p.ID == 0 || p.CreatedAt.IsZero() || !p.UpdatedAt.Equal(p.CreatedAt) {
		t.Fatalf("CreateSystemPrompt did not set ID and times: %+v", p)
	}
	low := newPrompt("b-low", 1)
	mustNil(t, db.CreateSystemPrompt(ctx, low))
	tie := newPrompt("a-low", 1)
	tie.Enabled = false
	mustNil(t, db.CreateSystemPrompt(ctx, tie))
	neg := newPrompt("neg", -3)
	mustNil(t, db.CreateSystemPrompt(ctx, neg))
	wantConflict(t, db.CreateSystemPrompt(ctx, newPrompt("gdpr", 0)), `system prompt "gdpr" already exists`)
	empty := newPrompt("empty", 0)
	empty.Template = "  "
	wantCode(t, db.CreateSystemPrompt(ctx, empty), bulwark.CodeUnprocessable)

	got, err := db.GetSystemPrompt(ctx, p.ID)
	mustNil(t, err)
	eqStruct(t, "GetSystemPrompt", got, p)
	_, err = db.GetSystemPrompt(ctx, 999999)
	wantNotFound(t, err)

	list, err := db.ListSystemPrompts(ctx)
	mustNil(t, err)
	var names []string
	for _, s := range list {
		names = append(names, s.Name)
	}
	if want := []string{"gdpr", "a-low", "b-low", "neg"}; !slices.Equal(names, want) {
		t.Fatalf("ListSystemPrompts order = %v, want %v", names, want)
	}

	upd := *got
	upd.Name, upd.Priority, upd.Groups, upd.Proxies, upd.Enabled, upd.UpdatedBy = "gdpr-v2", 0, nil, nil, false, "bob"
	mustNil(t, db.UpdateSystemPrompt(ctx, &upd, got.UpdatedAt))
	got2, err := db.GetSystemPrompt(ctx, p.ID)
	mustNil(t, err)
	eqStruct(t, "updated system prompt", got2, &upd)
	stale := upd
	stale.Template = "stale"
	wantConflict(t, db.UpdateSystemPrompt(ctx, &stale, got.UpdatedAt), "changed by someone else")
	clash := *got2
	clash.Name = "neg"
	wantConflict(t, db.UpdateSystemPrompt(ctx, &clash, got2.UpdatedAt), `system prompt "neg" already exists`)
	missing := *got2
	missing.ID = 999999
	wantNotFound(t, db.UpdateSystemPrompt(ctx, &missing, got2.UpdatedAt))
	got3, _ := db.GetSystemPrompt(ctx, p.ID)
	eqStruct(t, "system prompt after failed updates", got3, got2)

	mustNil(t, db.DeleteSystemPrompt(ctx, p.ID))
	wantNotFound(t, db.DeleteSystemPrompt(ctx, p.ID))
	_, err = db.GetSystemPrompt(ctx, p.ID)
	wantNotFound(t, err)
}

// --- request log ---

// req is a request record at at through proxy by group g (nil: no group).
func req(at time.Time, proxy string, g *bulwark.Group, model string, cost float64, period time.Time) *bulwark.RequestRecord {
	r := &bulwark.RequestRecord{RequestID: fmt.Sprintf("req-%s-%d", proxy, at.UnixNano()), At: at, Proxy: proxy,
		Model: model, API: "chat", Path: "/v1/chat/completions", Status: 200, Verdict: bulwark.VerdictAllow,
		InputTokens: 100, OutputTokens: 20, CostUSD: cost, Priced: model != "", BudgetPeriod: period}
	if g != nil {
		r.GroupID, r.Group = g.ID, g.Name
	}
	return r
}

func wantSpend(t *testing.T, db *store.DB, g int64, period time.Time, want float64) {
	t.Helper()
	got, err := db.GroupSpend(t.Context(), g, period)
	mustNil(t, err)
	if got != want {
		t.Fatalf("GroupSpend(%d, %v) = %v, want %v", g, period, got, want)
	}
}

func testRequestRoundTrip(t *testing.T, db *store.DB) {
	ctx := t.Context()
	g := newGroup(t, db, "team")
	zone := time.FixedZone("UTC-7", -7*3600)
	r := &bulwark.RequestRecord{RequestID: "01J00000000000000000000000", At: time.Date(2026, 5, 6, 7, 8, 9, 987654321, zone),
		Proxy: "openai", GroupID: g.ID, Group: g.Name, KeyID: 42, User: "Zoë <zoe@example.com>", Model: "gpt-4o-mini",
		API: "responses", Path: "/v1/responses?x=%27", Stream: true, Status: 403, Verdict: bulwark.VerdictBlock,
		RuleID: "PI-001", Findings: 3, InputTokens: 1 << 40, OutputTokens: 77, CacheReadTokens: 5, CacheWriteTokens: 6,
		TokensEstimated: true, CostUSD: 0.000123456789, Priced: true, LatencyMs: 12.5, UpstreamMs: 0.25,
		Error: `upstream said "no"; DROP TABLE requests;--`, BudgetPeriod: time.Date(2026, 5, 1, 0, 0, 0, 1500, time.UTC)}
	plain := &bulwark.RequestRecord{At: base, Proxy: "mcp", Verdict: bulwark.VerdictError, Error: "bad\x00byte\xff"}
	mustNil(t, db.RecordRequests(ctx, []*bulwark.RequestRecord{r, plain}))
	mustNil(t, db.RecordRequests(ctx, nil))

	p, err := db.ListRequests(ctx, bulwark.RequestFilter{})
	mustNil(t, err)
	if p.Total != 2 || len(p.Items) != 2 {
		t.Fatalf("ListRequests = %+v", p)
	}
	got := p.Items[0]
	if got.ID == 0 {
		t.Fatal("ID not set on read")
	}
	want := *r
	want.ID, want.At, want.BudgetPeriod = got.ID, us(r.At), us(r.BudgetPeriod)
	eqStruct(t, "request record", &got, &want)
	if got.At.Nanosecond() != 987654000 {
		t.Fatalf("At not kept at microsecond precision: %v", got.At)
	}
	got = p.Items[1]
	if got.Error != "badbyte\uFFFD" || !got.BudgetPeriod.IsZero() || got.Priced || !sameTime(got.At, us(base)) {
		t.Fatalf("plain record read back as %+v", got)
	}
	wantSpend(t, db, g.ID, r.BudgetPeriod, 0.000123456789)

	// A batch larger than one INSERT, and a zero At stored as now.
	before := time.Now().Add(-time.Second)
	var many []*bulwark.RequestRecord
	for i := range 450 {
		many = append(many, req(base.Add(time.Duration(i)*time.Second), "bulk", g, "m", 0.5, us(r.BudgetPeriod)))
	}
	many = append(many, &bulwark.RequestRecord{Proxy: "now"})
	mustNil(t, db.RecordRequests(ctx, many))
	p, err = db.ListRequests(ctx, bulwark.RequestFilter{Proxy: "bulk", Limit: 1})
	mustNil(t, err)
	if p.Total != 450 {
		t.Fatalf("bulk total = %d", p.Total)
	}
	wantSpend(t, db, g.ID, r.BudgetPeriod, 0.000123456789+225)
	p, err = db.ListRequests(ctx, bulwark.RequestFilter{Proxy: "now"})
	mustNil(t, err)
	if p.Total != 1 || p.Items[0].At.Before(before) || p.Items[0].At.After(time.Now().Add(time.Second)) {
		t.Fatalf("zero At stored as %+v", p.Items)
	}
	wantCode(t, db.RecordRequests(ctx, []*bulwark.RequestRecord{r, nil}), bulwark.CodeInvalid)
}

func testRecordRequestsSpend(t *testing.T, db *store.DB) {
	ctx := t.Context()
	a, b, gone := newGroup(t, db, "a"), newGroup(t, db, "b"), newGroup(t, db, "gone")
	march := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	april := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	reset := time.Date(2026, 4, 10, 12, 30, 0, 250000, time.UTC) // a manual reset starts a new period
	mustNil(t, db.DeleteGroup(ctx, gone.ID))
	at := base
	batch := []*bulwark.RequestRecord{
		req(at, "p", a, "m", 1.25, march),
		req(at, "p", a, "m", 0.5, march),
		req(at, "p", a, "m", 2, april),
		req(at, "p", a, "m", 0.125, reset),
		req(at, "p", b, "m", 4, march),
		req(at, "p", b, "m", 8, time.Time{}),    // no budget: not counted
		req(at, "p", nil, "m", 16, march),       // no group
		req(at, "p", gone, "m", 32, march),      // group deleted meanwhile
		req(at, "p", b, "", 0, march),           // unpriced, zero cost
		req(at, "p", b, "m", math.NaN(), march), // unknown cost
	}
	mustNil(t, db.RecordRequests(ctx, batch))
	mustNil(t, db.RecordRequests(ctx, []*bulwark.RequestRecord{req(at, "p", a, "m", 0.25, march)}))
	for _, c := range []struct {
		g      *bulwark.Group
		period time.Time
		want   float64
	}{
		{a, march, 2}, {a, april, 2}, {a, reset, 0.125}, {b, march, 4}, {b, april, 0}, {gone, march, 0},
	} {
		wantSpend(t, db, c.g.ID, c.period, c.want)
	}
	p, err := db.ListRequests(ctx, bulwark.RequestFilter{})
	mustNil(t, err)
	if p.Total != len(batch)+1 {
		t.Fatalf("stored %d records, want %d", p.Total, len(batch)+1)
	}
	p, err = db.ListRequests(ctx, bulwark.RequestFilter{GroupID: gone.ID})
	mustNil(t, err)
	if p.Total != 1 || p.Items[0].Group != "gone" {
		t.Fatalf("record of the deleted group: %+v", p.Items)
	}
	p, _ = db.ListRequests(ctx, bulwark.RequestFilter{Proxy: "p", Limit: 500})
	for _, r := range p.Items {
		if math.IsNaN(r.CostUSD) {
			t.Fatalf("NaN cost stored: %+v", r)
		}
	}
}

// testDeleteGroupCascade checks that deleting a group removes its keys and
// spend but keeps its request records.
func testDeleteGroupCascade(t *testing.T, db *store.DB) {
	ctx := t.Context()
	g, other := newGroup(t, db, "doomed"), newGroup(t, db, "other")
	period := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	mustNil(t, db.CreateGatewayKey(ctx, &bulwark.GatewayKey{GroupID: g.ID, Name: "k1", Hash: "h1"}))
	mustNil(t, db.CreateGatewayKey(ctx, &bulwark.GatewayKey{GroupID: g.ID, Name: "k2", Hash: "h2"}))
	mustNil(t, db.CreateGatewayKey(ctx, &bulwark.GatewayKey{GroupID: other.ID, Name: "k3", Hash: "h3"}))
	mustNil(t, db.RecordRequests(ctx, []*bulwark.RequestRecord{
		req(base, "p", g, "m", 1, period), req(base, "p", other, "m", 2, period)}))
	wantSpend(t, db, g.ID, period, 1)

	mustNil(t, db.DeleteGroup(ctx, g.ID))
	for _, h := range []string{"h1", "h2"} {
		_, err := db.GetGatewayKeyByHash(ctx, h)
		wantNotFound(t, err)
	}
	keys, err := db.ListGatewayKeys(ctx, 0)
	mustNil(t, err)
	if len(keys) != 1 || keys[0].Hash != "h3" {
		t.Fatalf("keys after delete: %+v", keys)
	}
	wantSpend(t, db, g.ID, period, 0)
	wantSpend(t, db, other.ID, period, 2)
	p, err := db.ListRequests(ctx, bulwark.RequestFilter{GroupID: g.ID})
	mustNil(t, err)
	if p.Total != 1 || p.Items[0].Group != "doomed" {
		t.Fatalf("requests of the deleted group: %+v", p)
	}
	// A group created later with the same name starts from nothing.
	again := newGroup(t, db, "doomed")
	wantSpend(t, db, again.ID, period, 0)
	keys, _ = db.ListGatewayKeys(ctx, again.ID)
	if len(keys) != 0 {
		t.Fatalf("new group inherited keys: %+v", keys)
	}
}

func testRecordRequestsConcurrent(t *testing.T, db *store.DB) {
	ctx := t.Context()
	a, b := newGroup(t, db, "a"), newGroup(t, db, "b")
	march := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	april := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	const workers, batches = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*batches)
	for w := range workers {
		wg.Go(func() {
			for i := range batches {
				// Groups and periods in different orders per worker.
				batch := []*bulwark.RequestRecord{
					req(base, "p", b, "m", 0.25, april),
					req(base, "p", a, "m", 0.5, march),
					req(base, "p", a, "m", 0.125, april),
				}
				if (w+i)%2 == 1 {
					slices.Reverse(batch)
				}
				errs <- db.RecordRequests(ctx, batch)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		mustNil(t, err)
	}
	const n = workers * batches
	wantSpend(t, db, a.ID, march, 0.5*n)
	wantSpend(t, db, a.ID, april, 0.125*n)
	wantSpend(t, db, b.ID, april, 0.25*n)
	p, err := db.ListRequests(ctx, bulwark.RequestFilter{})
	mustNil(t, err)
	if p.Total != 3*n {
		t.Fatalf("stored %d records, want %d", p.Total, 3*n)
	}
}

func testListRequests(t *testing.T, db *store.DB) {
	ctx := t.Context()
	g1, g2 := newGroup(t, db, "g1"), newGroup(t, db, "g2")
	var recs []*bulwark.RequestRecord
	for i := range 30 {
		g, proxy := g1, "openai"
		if i%3 == 0 {
			g = g2
		}
		if i%2 == 0 {
			proxy = "claude"
		}
		r := req(base.Add(time.Duration(i)*time.Minute), proxy, g, "m", 0, time.Time{})
		r.RequestID = fmt.Sprintf("r%02d", i)
		if i%5 == 0 {
			r.Verdict = bulwark.VerdictBlock
		}
		recs = append(recs, r)
	}
	recs = append(recs, req(base.Add(10*time.Minute), "openai", nil, "m", 0, time.Time{})) // same time as r10
	recs[30].RequestID = "tie"
	mustNil(t, db.RecordRequests(ctx, recs))

	list := func(f bulwark.RequestFilter) ([]string, int) {
		t.Helper()
		p, err := db.ListRequests(ctx, f)
		mustNil(t, err)
		if p.Items == nil {
			t.Fatal("nil Items")
		}
		var ids []string
		for _, r := range p.Items {
			ids = append(ids, r.RequestID)
		}
		return ids, p.Total
	}
	cases := []struct {
		name  string
		f     bulwark.RequestFilter
		want  []string
		total int
	}{
		{"newest first", bulwark.RequestFilter{Limit: 3}, []string{"r29", "r28", "r27"}, 31},
		{"ties by id", bulwark.RequestFilter{Since: base.Add(10 * time.Minute), Until: base.Add(11 * time.Minute)},
			[]string{"tie", "r10"}, 2},
		{"proxy", bulwark.RequestFilter{Proxy: "claude", Limit: 2}, []string{"r28", "r26"}, 15},
		{"group", bulwark.RequestFilter{GroupID: g2.ID, Limit: 2, Offset: 1}, []string{"r24", "r21"}, 10},
		{"verdict", bulwark.RequestFilter{Verdict: bulwark.VerdictBlock}, []string{"r25", "r20", "r15", "r10", "r05", "r00"}, 6},
		{"since/until", bulwark.RequestFilter{Since: base.Add(5 * time.Minute), Until: base.Add(8 * time.Minute)},
			[]string{"r07", "r06", "r05"}, 3},
		{"combined", bulwark.RequestFilter{Proxy: "claude", GroupID: g2.ID, Verdict: bulwark.VerdictBlock},
			[]string{"r00"}, 1},
		{"last page", bulwark.RequestFilter{Limit: 10, Offset: 29}, []string{"r01", "r00"}, 31},
		{"past the end", bulwark.RequestFilter{Proxy: "openai", Limit: 10, Offset: 100}, nil, 16},
		{"no match", bulwark.RequestFilter{Proxy: "nope"}, nil, 0},
	}
	for _, c := range cases {
		ids, total := list(c.f)
		if !slices.Equal(ids, c.want) || total != c.total {
			t.Fatalf("%s: got %v (total %d), want %v (total %d)", c.name, ids, total, c.want, c.total)
		}
	}
	// Paging visits every record once.
	seen := map[string]bool{}
	for off := 0; off < 31; off += 7 {
		ids, _ := list(bulwark.RequestFilter{Limit: 7, Offset: off})
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("%s on two pages", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != 31 {
		t.Fatalf("paging saw %d records", len(seen))
	}

	n, err := db.DeleteRequestsBefore(ctx, base.Add(10*time.Minute))
	mustNil(t, err)
	if n != 10 {
		t.Fatalf("DeleteRequestsBefore deleted %d, want 10", n)
	}
	if ids, total := list(bulwark.RequestFilter{Limit: 500}); total != 21 || ids[len(ids)-1] != "r10" {
		t.Fatalf("after retention: %v", ids)
	}
}

func testUsageSummary(t *testing.T, db *store.DB) {
	ctx := t.Context()
	g1, g2 := newGroup(t, db, "alpha"), newGroup(t, db, "beta")
	day1 := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)
	day2 := day1.AddDate(0, 0, 1)
	// 23:30 on day1 in UTC is 01:30 on day2 in UTC+2: the bucket is the UTC day.
	late := time.Date(2026, 3, 10, 1, 30, 0, 0, time.FixedZone("UTC+2", 2*3600))
	mk := func(at time.Time, g *bulwark.Group, model string, cost float64, priced bool, v bulwark.Verdict) *bulwark.RequestRecord {
		r := req(at, "p", g, model, cost, time.Time{})
		r.Priced, r.Verdict = priced, v
		r.InputTokens, r.OutputTokens, r.CacheReadTokens, r.CacheWriteTokens = 10, 3, 2, 1
		return r
	}
	mustNil(t, db.RecordRequests(ctx, []*bulwark.RequestRecord{
		mk(day1.Add(time.Hour), g1, "gpt-4o", 0.5, true, bulwark.VerdictAllow),
		mk(late, g1, "gpt-4o", 0.25, true, bulwark.VerdictBlock),
		mk(day1.Add(2*time.Hour), g1, "local-llm", 0, false, bulwark.VerdictAllow),
		mk(day1.Add(3*time.Hour), g1, "local-llm", 0, false, bulwark.VerdictMonitor),
		mk(day1.Add(4*time.Hour), g2, "gpt-4o", 1, true, bulwark.VerdictAllow),
		mk(day1.Add(5*time.Hour), g2, "", 0, false, bulwark.VerdictBlock), // blocked before a model was known
		mk(day1.Add(6*time.Hour), nil, "claude", 2, true, bulwark.VerdictAllow),
		mk(day2.Add(time.Hour), g1, "gpt-4o", 0.125, true, bulwark.VerdictRedact),
		mk(day2.Add(24*time.Hour), g1, "gpt-4o", 99, true, bulwark.VerdictAllow),      // at until: excluded
		mk(day1.Add(-time.Microsecond), g1, "gpt-4o", 99, true, bulwark.VerdictAllow), // before since
	}))
	got, err := db.UsageSummary(ctx, day1, day2.Add(24*time.Hour))
	mustNil(t, err)
	b := func(day, group, model string, reqs, blocked int64, cost float64, unpriced int64) bulwark.UsageBucket {
		return bulwark.UsageBucket{Day: day, Group: group, Model: model, Requests: reqs, Blocked: blocked,
			InputTokens: 10 * reqs, OutputTokens: 3 * reqs, CachedTokens: 3 * reqs, CostUSD: cost, Unpriced: unpriced}
	}
	want := []bulwark.UsageBucket{
		b("2026-03-09", "", "claude", 1, 0, 2, 0),
		b("2026-03-09", "alpha", "gpt-4o", 2, 1, 0.75, 0),
		b("2026-03-09", "alpha", "local-llm", 2, 0, 0, 2),
		b("2026-03-09", "beta", "", 1, 1, 0, 0),
		b("2026-03-09", "beta", "gpt-4o", 1, 0, 1, 0),
		b("2026-03-10", "alpha", "gpt-4o", 1, 0, 0.125, 0),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("UsageSummary:\n got %+v\nwant %+v", got, want)
	}
	got, err = db.UsageSummary(ctx, day2.Add(48*time.Hour), day2.Add(72*time.Hour))
	mustNil(t, err)
	if got == nil || len(got) != 0 {
		t.Fatalf("empty range: %#v", got)
	}
}
