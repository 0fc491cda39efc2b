package store_test

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/store"
)

// The MCP tests run in runConformance, on both engines.

func newMCPProxy(t *testing.T, db *store.DB, name string) *bulwark.Proxy {
	t.Helper()
	p := &bulwark.Proxy{Name: name, Type: bulwark.ProtocolMCP, UpstreamURL: "https://mcp.example.com/mcp",
		MCP: &bulwark.MCPConfig{Transport: bulwark.MCPStreamableHTTP}}
	mustNil(t, db.CreateProxy(t.Context(), p))
	return p
}

func newTool(proxy string, kind bulwark.ToolKind, name string) *bulwark.MCPTool {
	return &bulwark.MCPTool{Proxy: proxy, Kind: kind, Name: name, Status: bulwark.ToolPending,
		Definition: json.RawMessage(`{"name":"` + name + `"}`), Hash: "h-" + name}
}

func mustCreateTool(t *testing.T, db *store.DB, tool *bulwark.MCPTool) *bulwark.MCPTool {
	t.Helper()
	mustNil(t, db.CreateMCPTool(t.Context(), tool))
	return tool
}

func mustGetTool(t *testing.T, db *store.DB, id int64) *bulwark.MCPTool {
	t.Helper()
	got, err := db.GetMCPTool(t.Context(), id)
	mustNil(t, err)
	return got
}

// mcpConfigRaw is the stored mcp_config column of a proxy, and whether it
// is NULL.
func mcpConfigRaw(t *testing.T, db *store.DB, name string) (string, bool) {
	t.Helper()
	pools := db.SQLDBs()
	pool := pools["primary"]
	if pool == nil {
		pool = pools["reader"]
	}
	var raw *string
	mustNil(t, pool.QueryRowContext(t.Context(), `SELECT mcp_config FROM proxies WHERE name = $1`, name).Scan(&raw))
	if raw == nil {
		return "", true
	}
	return *raw, false
}

// --- proxies with MCP settings ---

func testProxyMCPConfig(t *testing.T, db *store.DB) {
	ctx := t.Context()
	tests := []struct {
		name string
		url  string
		cfg  *bulwark.MCPConfig
	}{
		{"stdio", "", &bulwark.MCPConfig{Transport: bulwark.MCPStdio, Command: "/usr/bin/node",
			Args: []string{"server.js", "--root", `C:\with "quotes"`, "Zoë 🚀", ""},
			Env:  map[string]string{"API_TOKEN": "s3cr=t", "LANG": "C.UTF-8", "EMPTY": ""},
			Dir:  "/srv/mcp files", ProcessPerSession: true, RescanSeconds: 300, AutoApprove: true}},
		{"stdio-minimal", "", &bulwark.MCPConfig{Transport: bulwark.MCPStdio, Command: "npx"}},
		{"streamable", "https://mcp.example.com/mcp", &bulwark.MCPConfig{Transport: bulwark.MCPStreamableHTTP,
			RescanSeconds: -1}},
		{"sse", "http://127.0.0.1:9000/sse", &bulwark.MCPConfig{Transport: bulwark.MCPSSE}},
	}
	for _, tc := range tests {
		p := &bulwark.Proxy{Name: tc.name, Type: bulwark.ProtocolMCP, UpstreamURL: tc.url, MCP: tc.cfg,
			Tags: []string{"mcp"}, UpdatedBy: "alice"}
		mustNil(t, db.CreateProxy(ctx, p))
		got, err := db.GetProxy(ctx, tc.name)
		mustNil(t, err)
		eqStruct(t, "GetProxy "+tc.name, got, p)
		if got.MCP == tc.cfg {
			t.Fatalf("%s: MCP settings share memory with the input", tc.name)
		}
	}
	// Every read path carries the settings.
	list, err := db.ListProxies(ctx)
	mustNil(t, err)
	if len(list) != len(tests) {
		t.Fatalf("ListProxies = %d proxies", len(list))
	}
	for _, p := range list {
		i := slices.IndexFunc(tests, func(tc struct {
			name string
			url  string
			cfg  *bulwark.MCPConfig
		}) bool {
			return tc.name == p.Name
		})
		if p.MCP == nil || fmt.Sprint(*p.MCP) != fmt.Sprint(*tests[i].cfg) {
			t.Fatalf("ListProxies %s MCP = %+v, want %+v", p.Name, p.MCP, tests[i].cfg)
		}
	}

	// An llm proxy has none, stored as NULL.
	llm := newProxy("llm")
	mustNil(t, db.CreateProxy(ctx, llm))
	if raw, null := mcpConfigRaw(t, db, "llm"); !null {
		t.Fatalf("llm proxy mcp_config = %q, want NULL", raw)
	}
	got, _ := db.GetProxy(ctx, "llm")
	if got.MCP != nil {
		t.Fatalf("llm proxy MCP = %+v", got.MCP)
	}
	// An MCP setting on another type is refused.
	bad := newProxy("bad")
	bad.MCP = &bulwark.MCPConfig{Transport: bulwark.MCPSSE}
	wantCode(t, db.CreateProxy(ctx, bad), bulwark.CodeUnprocessable)
	// An mcp proxy without settings is refused.
	bad = &bulwark.Proxy{Name: "bad", Type: bulwark.ProtocolMCP, UpstreamURL: "https://x.example"}
	wantCode(t, db.CreateProxy(ctx, bad), bulwark.CodeUnprocessable)

	// Updates replace the settings: stdio → streamable HTTP → stdio, then
	// the proxy becomes an llm proxy and the settings go.
	cur, _ := db.GetProxy(ctx, "stdio")
	steps := []struct {
		typ bulwark.Protocol
		url string
		cfg *bulwark.MCPConfig
	}{
		{bulwark.ProtocolMCP, "https://mcp.example.com/v2", &bulwark.MCPConfig{Transport: bulwark.MCPStreamableHTTP, AutoApprove: true}},
		{bulwark.ProtocolMCP, "", &bulwark.MCPConfig{Transport: bulwark.MCPStdio, Command: "/opt/mcp/bin/server",
			Env: map[string]string{"K": "v"}}},
		{bulwark.ProtocolLLM, "https://api.openai.com", nil},
	}
	for i, st := range steps {
		next := *cur
		next.Type, next.UpstreamURL, next.MCP = st.typ, st.url, st.cfg
		if st.typ == bulwark.ProtocolLLM {
			next.Provider = bulwark.ProviderOpenAI
		}
		mustNil(t, db.UpdateProxy(ctx, &next, cur.UpdatedAt))
		got, err := db.GetProxy(ctx, "stdio")
		mustNil(t, err)
		eqStruct(t, fmt.Sprintf("update step %d", i), got, &next)
		cur = got
	}
	if raw, null := mcpConfigRaw(t, db, "stdio"); !null {
		t.Fatalf("mcp_config after becoming an llm proxy = %q, want NULL", raw)
	}
}

// --- MCP tools ---

func testMCPTools(t *testing.T, db *store.DB) {
	ctx := t.Context()
	newMCPProxy(t, db, "files")
	newMCPProxy(t, db, "search")
	decided := time.Date(2026, 2, 1, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	first := base.Add(-48 * time.Hour)
	// Definitions with odd spacing, key order and escapes are kept byte for
	// byte, never re-encoded.
	def := json.RawMessage("{ \"name\":\"read_file\" ,\"description\":\"Reads \\u00fc a file. <IMPORTANT>ignore</IMPORTANT>\",\n\t\"inputSchema\":{\"type\":\"object\",\"b\":1,\"a\":[1.50,2e3]} }")
	pinned := json.RawMessage(`{"name":"read_file","description":"Reads a file.","inputSchema":{"type":"object"}}`)
	findings := []bulwark.Finding{
		{RuleID: "MCP-POISON-001", Title: `Hidden "instructions"`, Category: "tool_poisoning", Kind: "injection",
			Severity: bulwark.SeverityCritical, Action: bulwark.ActionBlock, Score: 0.1 + 0.2, Surface: bulwark.SurfaceToolDescription,
			Path: "description", Start: 24, End: 61, Evidence: "<IMPORTANT>ignore…\x00 Zoë 🚀"},
		{RuleID: "X-2", Title: "second", Score: math.SmallestNonzeroFloat64, Start: 0, End: 0},
	}
	tests := []struct {
		name string
		tool *bulwark.MCPTool
	}{
		{"full", &bulwark.MCPTool{Proxy: "files", Kind: bulwark.KindTool, Name: "read_file", Definition: def,
			Hash: "ab12", Status: bulwark.ToolApproved, PinnedDefinition: pinned, PinnedHash: "cd34", Findings: findings,
			Removed: true, Groups: []string{"team-a", "*"}, CallsPerMinute: 60, Calls: 7, BlockedCalls: 2,
			FirstSeen: first, LastSeen: base, DecidedBy: "alice", DecidedAt: &decided}},
		{"zero", &bulwark.MCPTool{Proxy: "files", Kind: bulwark.KindPrompt, Name: "summarize", Status: bulwark.ToolPending}},
		{"resource", &bulwark.MCPTool{Proxy: "search", Kind: bulwark.KindResource, Name: "file:///etc/passwd?x=1 ü",
			Definition: json.RawMessage(`null`), Status: bulwark.ToolDenied, Findings: []bulwark.Finding{}}},
		{"same name, other kind", &bulwark.MCPTool{Proxy: "files", Kind: bulwark.KindPrompt, Name: "read_file",
			Definition: json.RawMessage(`[]`), Status: bulwark.ToolQuarantined}},
		{"same name, other proxy", &bulwark.MCPTool{Proxy: "search", Kind: bulwark.KindTool, Name: "read_file",
			Definition: json.RawMessage(`"x"`), Status: bulwark.ToolPending}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now().Add(-time.Second)
			in := *tc.tool
			mustCreateTool(t, db, tc.tool)
			tl := tc.tool
			if tl.ID == 0 || tl.UpdatedAt.Before(before) || tl.UpdatedAt.Location() != time.UTC {
				t.Fatalf("CreateMCPTool did not set ID and UpdatedAt: %+v", tl)
			}
			if in.FirstSeen.IsZero() {
				if !tl.FirstSeen.Equal(tl.UpdatedAt) || !tl.LastSeen.Equal(tl.UpdatedAt) {
					t.Fatalf("zero seen times not defaulted to now: %+v", tl)
				}
			} else if !sameTime(tl.FirstSeen, us(in.FirstSeen)) || !sameTime(tl.LastSeen, us(in.LastSeen)) {
				t.Fatalf("seen times not normalized: %+v", tl)
			}
			got := mustGetTool(t, db, tl.ID)
			want := *tl
			if want.DecidedAt != nil {
				want.DecidedAt = ptr(us(*want.DecidedAt))
			}
			eqStruct(t, "GetMCPTool", got, &want)
			if string(got.Definition) != string(in.Definition) || string(got.PinnedDefinition) != string(in.PinnedDefinition) {
				t.Fatalf("definitions not byte for byte:\n got %s | %s\nwant %s | %s",
					got.Definition, got.PinnedDefinition, in.Definition, in.PinnedDefinition)
			}
			if len(in.Definition) == 0 && got.Definition != nil {
				t.Fatalf("empty definition read back as %q", got.Definition)
			}
			if got.Groups == nil || got.Findings == nil {
				t.Fatalf("empty lists read back as nil: %+v", got)
			}
		})
	}
	full := tests[0].tool
	got := mustGetTool(t, db, full.ID)
	if !slices.Equal(got.Findings, findings) || got.Findings[0].Score != 0.1+0.2 {
		t.Fatalf("findings = %+v", got.Findings)
	}

	// Duplicates conflict, naming the tool.
	wantConflict(t, db.CreateMCPTool(ctx, newTool("files", bulwark.KindTool, "read_file")),
		`MCP tool "read_file" of proxy "files" already exists`)
	// Tools of a missing proxy are refused.
	wantNotFound(t, db.CreateMCPTool(ctx, newTool("missing", bulwark.KindTool, "x")))
	_, err := db.GetMCPTool(ctx, 999999)
	wantNotFound(t, err)

	list, err := db.ListMCPTools(ctx, "files")
	mustNil(t, err)
	if len(list) != 3 {
		t.Fatalf("ListMCPTools(files) = %d tools", len(list))
	}
	for _, tl := range list {
		if tl.ID == full.ID {
			eqStruct(t, "listed tool", tl, got)
		}
	}
}

func testMCPToolValidation(t *testing.T, db *store.DB) {
	ctx := t.Context()
	newMCPProxy(t, db, "p")
	tests := []struct {
		name   string
		change func(tl *bulwark.MCPTool)
		onlyOn string // "create" when the field is not written by updates
	}{
		{"bad proxy name", func(tl *bulwark.MCPTool) { tl.Proxy = "Bad Name" }, "create"},
		{"empty proxy", func(tl *bulwark.MCPTool) { tl.Proxy = "" }, "create"},
		{"bad kind", func(tl *bulwark.MCPTool) { tl.Kind = "widget" }, "create"},
		{"empty name", func(tl *bulwark.MCPTool) { tl.Name = "" }, "create"},
		{"NUL in name", func(tl *bulwark.MCPTool) { tl.Name = "a\x00b" }, "create"},
		{"invalid UTF-8 name", func(tl *bulwark.MCPTool) { tl.Name = "a\xffb" }, "create"},
		{"negative calls", func(tl *bulwark.MCPTool) { tl.Calls = -1 }, "create"},
		{"bad status", func(tl *bulwark.MCPTool) { tl.Status = "maybe" }, ""},
		{"empty status", func(tl *bulwark.MCPTool) { tl.Status = "" }, ""},
		{"bad definition", func(tl *bulwark.MCPTool) { tl.Definition = json.RawMessage(`{"a":`) }, ""},
		{"invalid UTF-8 definition", func(tl *bulwark.MCPTool) { tl.Definition = json.RawMessage("\"\xff\"") }, ""},
		{"bad pinned definition", func(tl *bulwark.MCPTool) { tl.PinnedDefinition = json.RawMessage(`nope`) }, ""},
		{"negative calls per minute", func(tl *bulwark.MCPTool) { tl.CallsPerMinute = -1 }, ""},
		{"NaN score", func(tl *bulwark.MCPTool) { tl.Findings = []bulwark.Finding{{RuleID: "x", Score: math.NaN()}} }, ""},
	}
	existing := mustCreateTool(t, db, newTool("p", bulwark.KindTool, "existing"))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tl := newTool("p", bulwark.KindTool, "new")
			tc.change(tl)
			wantCode(t, db.CreateMCPTool(ctx, tl), bulwark.CodeInvalid)
			if tc.onlyOn == "create" {
				return
			}
			upd := *mustGetTool(t, db, existing.ID)
			tc.change(&upd)
			wantCode(t, db.UpdateMCPTool(ctx, &upd, existing.UpdatedAt), bulwark.CodeInvalid)
		})
	}
	if list, _ := db.ListMCPTools(ctx, ""); len(list) != 1 {
		t.Fatalf("invalid tools were stored: %+v", list)
	}
	upd := *mustGetTool(t, db, existing.ID)
	upd.LastSeen = time.Time{}
	wantCode(t, db.UpdateMCPTool(ctx, &upd, existing.UpdatedAt), bulwark.CodeInvalid)
	wantCode(t, db.AddMCPToolCalls(ctx, map[int64][2]int64{existing.ID: {-1, 0}}), bulwark.CodeInvalid)
}

func testMCPToolOptimisticUpdate(t *testing.T, db *store.DB) {
	ctx := t.Context()
	newMCPProxy(t, db, "p")
	newMCPProxy(t, db, "q")
	orig := newTool("p", bulwark.KindTool, "search")
	orig.FirstSeen, orig.LastSeen = base, base
	orig.Calls, orig.BlockedCalls = 10, 3
	mustCreateTool(t, db, orig)

	// Every field but ID, Proxy, Kind, Name, FirstSeen and the counts is written.
	decided := base.Add(time.Hour + 999*time.Nanosecond)
	upd := *orig
	upd.Proxy, upd.Kind, upd.Name = "q", bulwark.KindPrompt, "renamed" // ignored
	upd.FirstSeen, upd.Calls, upd.BlockedCalls = base.Add(time.Hour), 1000, 1000
	upd.Definition = json.RawMessage(`{"name":"search","description":"changed"}`)
	upd.Hash, upd.Status, upd.PinnedDefinition, upd.PinnedHash = "new-hash", bulwark.ToolQuarantined, orig.Definition, orig.Hash
	upd.Findings = []bulwark.Finding{{RuleID: "R", Title: "t", Score: 1, Start: 1, End: 2, Evidence: "e"}}
	upd.Removed, upd.Groups, upd.CallsPerMinute = true, []string{"g1", "g2"}, 5
	upd.LastSeen, upd.DecidedBy, upd.DecidedAt = base.Add(2*time.Hour), "bob", &decided
	mustNil(t, db.UpdateMCPTool(ctx, &upd, orig.UpdatedAt))
	if !upd.UpdatedAt.After(orig.UpdatedAt) {
		t.Fatalf("UpdatedAt did not advance: %v → %v", orig.UpdatedAt, upd.UpdatedAt)
	}
	got := mustGetTool(t, db, orig.ID)
	want := upd
	want.Proxy, want.Kind, want.Name, want.FirstSeen = orig.Proxy, orig.Kind, orig.Name, us(orig.FirstSeen)
	want.Calls, want.BlockedCalls = orig.Calls, orig.BlockedCalls
	want.LastSeen, want.DecidedAt = us(upd.LastSeen), ptr(us(decided))
	eqStruct(t, "updated tool", got, &want)

	// Stale version: conflict, nothing changed.
	stale := *got
	stale.Status = bulwark.ToolApproved
	wantConflict(t, db.UpdateMCPTool(ctx, &stale, orig.UpdatedAt), "changed by someone else")
	if again := mustGetTool(t, db, orig.ID); again.Status != bulwark.ToolQuarantined || !sameTime(again.UpdatedAt, got.UpdatedAt) {
		t.Fatalf("stale update changed the tool: %+v", again)
	}
	missing := *got
	missing.ID = 999999
	wantNotFound(t, db.UpdateMCPTool(ctx, &missing, got.UpdatedAt))

	// Clearing: nil definitions, findings, groups and decision.
	clr := *got
	clr.Definition, clr.PinnedDefinition, clr.PinnedHash, clr.Findings, clr.Groups = nil, nil, "", nil, nil
	clr.DecidedBy, clr.DecidedAt, clr.Removed, clr.Status = "", nil, false, bulwark.ToolPending
	mustNil(t, db.UpdateMCPTool(ctx, &clr, got.UpdatedAt))
	cleared := mustGetTool(t, db, orig.ID)
	eqStruct(t, "cleared tool", cleared, &clr)
	if cleared.Definition != nil || cleared.PinnedDefinition != nil || cleared.DecidedAt != nil {
		t.Fatalf("cleared tool: %+v", cleared)
	}

	// Versions stay strictly increasing even when updates come faster than
	// the clock, and counting calls does not move them.
	cur := cleared
	for range 3 {
		next := *cur
		mustNil(t, db.UpdateMCPTool(ctx, &next, cur.UpdatedAt))
		if !next.UpdatedAt.After(cur.UpdatedAt) {
			t.Fatalf("UpdatedAt not strictly increasing: %v → %v", cur.UpdatedAt, next.UpdatedAt)
		}
		mustNil(t, db.AddMCPToolCalls(ctx, map[int64][2]int64{orig.ID: {1, 0}}))
		cur = mustGetTool(t, db, orig.ID)
		if !sameTime(cur.UpdatedAt, next.UpdatedAt) {
			t.Fatalf("AddMCPToolCalls moved UpdatedAt: %v → %v", next.UpdatedAt, cur.UpdatedAt)
		}
	}
	if cur.Calls != orig.Calls+3 || cur.BlockedCalls != orig.BlockedCalls {
		t.Fatalf("counts after updates = %d/%d, want %d/%d", cur.Calls, cur.BlockedCalls, orig.Calls+3, orig.BlockedCalls)
	}
}

func testMCPToolListOrder(t *testing.T, db *store.DB) {
	ctx := t.Context()
	for _, p := range []string{"zeta", "alpha", "mid"} {
		newMCPProxy(t, db, p)
	}
	// Created out of order; names sort bytewise ("B" < "_" < "a" < "é").
	type key struct {
		proxy string
		kind  bulwark.ToolKind
		name  string
	}
	want := []key{
		{"alpha", bulwark.KindPrompt, "x"},
		{"alpha", bulwark.KindResource, "file:///a"},
		{"alpha", bulwark.KindTool, "B"},
		{"alpha", bulwark.KindTool, "_x"},
		{"alpha", bulwark.KindTool, "a"},
		{"alpha", bulwark.KindTool, "a-b"},
		{"alpha", bulwark.KindTool, "é"},
		{"mid", bulwark.KindTool, "only"},
		{"zeta", bulwark.KindPrompt, "a"},
		{"zeta", bulwark.KindTool, "a"},
	}
	order := []int{9, 3, 0, 7, 5, 2, 8, 1, 6, 4}
	for _, i := range order {
		k := want[i]
		mustCreateTool(t, db, newTool(k.proxy, k.kind, k.name))
	}
	keys := func(l []*bulwark.MCPTool) []key {
		out := []key{}
		for _, tl := range l {
			out = append(out, key{tl.Proxy, tl.Kind, tl.Name})
		}
		return out
	}
	for _, tc := range []struct {
		proxy string
		want  []key
	}{
		{"", want},
		{"alpha", want[:7]},
		{"mid", want[7:8]},
		{"zeta", want[8:]},
		{"missing", []key{}},
		{"alph", []key{}},
	} {
		list, err := db.ListMCPTools(ctx, tc.proxy)
		mustNil(t, err)
		if got := keys(list); !slices.Equal(got, tc.want) {
			t.Fatalf("ListMCPTools(%q) =\n %v\nwant\n %v", tc.proxy, got, tc.want)
		}
	}
}

func testMCPToolCallsConcurrent(t *testing.T, db *store.DB) {
	ctx := t.Context()
	newMCPProxy(t, db, "p")
	var ids []int64
	for i := range 4 {
		ids = append(ids, mustCreateTool(t, db, newTool("p", bulwark.KindTool, fmt.Sprintf("tool-%d", i))).ID)
	}
	mustNil(t, db.AddMCPToolCalls(ctx, nil))
	mustNil(t, db.AddMCPToolCalls(ctx, map[int64][2]int64{ids[0]: {0, 0}}))

	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				// Each batch touches the tools in a different map order,
				// plus an unknown id, which is ignored.
				batch := map[int64][2]int64{
					ids[(w+r)%4]:      {1, 0},
					ids[(w+r+1)%4]:    {2, 1},
					ids[(w+r+2)%4]:    {0, 3},
					999999 + int64(w): {5, 5},
				}
				if err := db.AddMCPToolCalls(ctx, batch); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("AddMCPToolCalls: %v", err)
	}
	var calls, blocked int64
	for _, id := range ids {
		tl := mustGetTool(t, db, id)
		calls += tl.Calls
		blocked += tl.BlockedCalls
	}
	if calls != workers*rounds*3 || blocked != workers*rounds*4 {
		t.Fatalf("totals = %d calls, %d blocked; want %d, %d", calls, blocked, workers*rounds*3, workers*rounds*4)
	}
	// Per tool: each (w+r) residue hits each tool with each share equally often.
	for i, id := range ids {
		tl := mustGetTool(t, db, id)
		var wc, wb int64
		for w := range workers {
			for r := range rounds {
				switch (i - (w + r) + 400) % 4 {
				case 0:
					wc++
				case 1:
					wc, wb = wc+2, wb+1
				case 2:
					wb += 3
				}
			}
		}
		if tl.Calls != wc || tl.BlockedCalls != wb {
			t.Fatalf("tool %d: %d/%d, want %d/%d", i, tl.Calls, tl.BlockedCalls, wc, wb)
		}
	}
}

func testDeleteProxyMCPTools(t *testing.T, db *store.DB) {
	ctx := t.Context()
	newMCPProxy(t, db, "one")
	two := newMCPProxy(t, db, "two")
	newMCPProxy(t, db, "three")
	gone := mustCreateTool(t, db, newTool("one", bulwark.KindTool, "a"))
	mustCreateTool(t, db, newTool("one", bulwark.KindPrompt, "b"))
	kept := mustCreateTool(t, db, newTool("two", bulwark.KindTool, "a"))
	mustCreateTool(t, db, newTool("three", bulwark.KindTool, "a"))

	count := func(proxy string) int {
		t.Helper()
		l, err := db.ListMCPTools(ctx, proxy)
		mustNil(t, err)
		return len(l)
	}
	mustNil(t, db.DeleteProxy(ctx, "one"))
	if n := count("one"); n != 0 {
		t.Fatalf("deleted proxy still has %d tools", n)
	}
	_, err := db.GetMCPTool(ctx, gone.ID)
	wantNotFound(t, err)
	if n := count(""); n != 2 {
		t.Fatalf("other proxies' tools: %d, want 2", n)
	}
	// A failed delete removes nothing.
	wantNotFound(t, db.DeleteProxy(ctx, "one"))
	// A new proxy of the old name starts without tools.
	newMCPProxy(t, db, "one")
	if n := count("one"); n != 0 {
		t.Fatalf("recreated proxy inherited %d tools", n)
	}

	// Renaming a proxy moves its tools; updating it by name keeps them.
	ren := *two
	ren.Name = "two-renamed"
	mustNil(t, db.UpdateProxy(ctx, &ren, two.UpdatedAt))
	if count("two") != 0 || count("two-renamed") != 1 {
		t.Fatalf("tools did not follow the rename: two=%d two-renamed=%d", count("two"), count("two-renamed"))
	}
	if tl := mustGetTool(t, db, kept.ID); tl.Proxy != "two-renamed" || !sameTime(tl.UpdatedAt, kept.UpdatedAt) {
		t.Fatalf("renamed tool: %+v", tl)
	}
	byName := ren
	byName.ID, byName.Description = 0, "by name"
	mustNil(t, db.UpdateProxy(ctx, &byName, ren.UpdatedAt))
	if count("two-renamed") != 1 {
		t.Fatal("update by name lost the tools")
	}
	// A stale rename moves nothing.
	stale := ren
	stale.Name = "two-stale"
	wantConflict(t, db.UpdateProxy(ctx, &stale, ren.UpdatedAt), "changed by someone else")
	if count("two-renamed") != 1 || count("two-stale") != 0 {
		t.Fatal("stale rename moved tools")
	}

	mustNil(t, db.DeleteMCPTools(ctx, "three"))
	mustNil(t, db.DeleteMCPTools(ctx, "three"))   // none left: not an error
	mustNil(t, db.DeleteMCPTools(ctx, "missing")) // no such proxy: not an error
	if count("three") != 0 || count("two-renamed") != 1 {
		t.Fatalf("DeleteMCPTools: three=%d two-renamed=%d", count("three"), count("two-renamed"))
	}
	if _, err := db.GetProxy(ctx, "three"); err != nil {
		t.Fatalf("DeleteMCPTools removed the proxy: %v", err)
	}

	// Tools created while their proxy is deleted are either refused or
	// deleted with it: none is left behind.
	for round := range 5 {
		newMCPProxy(t, db, "racy")
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					err := db.CreateMCPTool(ctx, newTool("racy", bulwark.KindTool, fmt.Sprintf("t-%d-%d-%d", round, w, i)))
					if err != nil {
						if bulwark.ErrorCodeOf(err) != bulwark.CodeNotFound {
							t.Errorf("CreateMCPTool: %v", err)
						}
						return
					}
				}
			})
		}
		wg.Go(func() {
			time.Sleep(5 * time.Millisecond)
			if err := db.DeleteProxy(ctx, "racy"); err != nil {
				t.Errorf("DeleteProxy: %v", err)
			}
		})
		wg.Wait()
		if n := count("racy"); n != 0 {
			t.Fatalf("round %d: %d tools outlived their proxy", round, n)
		}
	}

	// The migration is applied.
	st, err := db.MigrationStatus(ctx)
	mustNil(t, err)
	if !slices.ContainsFunc(st, func(s store.MigrationStatus) bool { return s.Source == "00004_mcp.sql" && s.Applied }) {
		t.Fatalf("00004_mcp.sql not applied: %+v", st)
	}
}
