package mcp

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

func statelessPost(t *testing.T, url, body string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer good")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", ProtocolStateless)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	if out == nil {
		out = map[string]any{"raw": string(b)}
	}
	return resp.StatusCode, out
}

const meta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`

// TestStateless2026: a 2026-07-28 client without initialize or session
// discovers the server and calls tools; the gateway's rules still apply.
func TestStateless2026(t *testing.T) {
	hooks := &fakeHooks{approved: map[string]bool{"echo": true}}
	_, url := relayFixture(t, hooks)

	status, out := statelessPost(t, url, `{"jsonrpc":"2.0","id":"d1","method":"server/discover","params":{`+meta+`}}`, nil)
	res, _ := out["result"].(map[string]any)
	if status != 200 || res["resultType"] != "complete" || res["serverInfo"] == nil || res["capabilities"] == nil {
		t.Fatalf("discover: %d %v", status, out)
	}
	status, out = statelessPost(t, url, `{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{`+meta+`}}`, map[string]string{"Mcp-Method": "tools/list"})
	res, _ = out["result"].(map[string]any)
	tools, _ := res["tools"].([]any)
	if status != 200 || len(tools) != 1 || res["resultType"] != "complete" {
		t.Fatalf("tools/list: %d %v", status, out)
	}
	status, out = statelessPost(t, url, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"},`+meta+`}}`, nil)
	if status != 200 || !strings.Contains(toJSON(out), "Echo: hi") {
		t.Fatalf("tools/call: %d %v", status, out)
	}
	status, out = statelessPost(t, url, `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"get-sum","arguments":{},`+meta+`}}`, nil)
	if status != 200 || !strings.Contains(toJSON(out), "not approved") {
		t.Fatalf("unapproved: %d %v", status, out)
	}
	// Header and body must agree.
	status, _ = statelessPost(t, url, `{"jsonrpc":"2.0","id":5,"method":"tools/list","params":{`+meta+`}}`, map[string]string{"Mcp-Method": "tools/call"})
	if status != 400 {
		t.Fatalf("Mcp-Method mismatch: %d", status)
	}
	status, _ = statelessPost(t, url, `{"jsonrpc":"2.0","id":6,"method":"tools/list","params":{`+meta+`}}`, map[string]string{"Mcp-Protocol-Version": ""})
	if status != 400 {
		t.Fatalf("missing version header: %d", status)
	}
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestStatelessGoSDKClient: the go-sdk client prefers 2026-07-28 and
// works through the relay without a session, instructions scanned.
func TestStatelessGoSDKClient(t *testing.T) {
	hooks := &fakeHooks{approved: map[string]bool{"echo": true}}
	h, url := relayFixture(t, hooks)
	cs, err := connectVersion(t, url, "good", "")
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	ctx := context.Background()
	lt, err := cs.ListTools(ctx, nil)
	if err != nil || len(lt.Tools) != 1 || lt.Tools[0].Name != "echo" {
		t.Fatalf("list: %v %+v", err, lt)
	}
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "stateless"}})
	if err != nil || res.Content[0].(*sdk.TextContent).Text != "Echo: stateless" {
		t.Fatalf("call: %v %+v", err, res)
	}
	if h.Sessions() != 0 {
		t.Fatalf("a stateless client opened %d sessions", h.Sessions())
	}
	waitFor(t, func() bool { hooks.mu.Lock(); defer hooks.mu.Unlock(); return hooks.instr != "" })
}
