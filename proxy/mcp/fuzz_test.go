package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
)

func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("re-parse %q: %v", b, err)
	}
	return v
}

// FuzzJSONDoc: walking, replacing every text and re-encoding never panics;
// replacing texts by themselves re-encodes an equal document, and replaced
// texts are what a re-parse finds, at the same paths.
func FuzzJSONDoc(f *testing.F) {
	for _, s := range []string{`{"arguments":{"a":"x","b":[1,"y",{"c":"z"}]}}`, `"s"`, `[]`, `{"content":[{"type":"text","text":"hi \u00e9"}]}`, `{"a":1.50e3,"b":null,"c":true}`, `{"a":"\ud800"}`} {
		f.Add([]byte(s), false, "X")
		f.Add([]byte(s), true, "")
	}
	f.Fuzz(func(t *testing.T, data []byte, args bool, repl string) {
		member := ""
		if args {
			member = "arguments"
		}
		doc, err := newJSONDoc(data, member, bulwark.SurfaceToolResult)
		if err != nil {
			return
		}
		if len(bytes.TrimSpace(data)) == 0 {
			return
		}
		orig := decodeAny(t, data)
		for i := range doc.Len() {
			_, _, text := doc.Part(i)
			doc.SetText(i, text)
		}
		enc, err := doc.Encode()
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		if got := decodeAny(t, enc); !reflect.DeepEqual(got, orig) {
			t.Fatalf("identity round trip changed the document:\n%s\n%s", data, enc)
		}
		// Replace every text and find the replacements at the same paths.
		want := map[string]string{}
		for i := range doc.Len() {
			path, _, text := doc.Part(i)
			nt := repl + text + repl
			doc.SetText(i, nt)
			_, _, after := doc.Part(i)
			if after != nt {
				t.Fatalf("part %d reads %q after SetText(%q)", i, after, nt)
			}
			// Encoding replaces invalid UTF-8 like the decoder does.
			b, _ := json.Marshal(nt)
			var w string
			_ = json.Unmarshal(b, &w)
			want[path] = w
		}
		enc, err = doc.Encode()
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		again, err := newJSONDoc(enc, member, bulwark.SurfaceToolResult)
		if err != nil {
			t.Fatalf("re-parse of the re-encoded document: %v\n%s", err, enc)
		}
		if again.Len() != doc.Len() {
			t.Fatalf("%d texts, then %d", doc.Len(), again.Len())
		}
		for i := range again.Len() {
			path, _, text := again.Part(i)
			if w, ok := want[path]; !ok || w != text {
				t.Fatalf("path %q: %q, want %q (%v)", path, text, w, ok)
			}
		}
	})
}

// listHooks shows items whose name has an even length.
type listHooks struct{ fakeHooks }

func (*listHooks) Listed(_ context.Context, kind bulwark.ToolKind, items []json.RawMessage, _ bool, _ Client) (map[string]bool, error) {
	out := map[string]bool{}
	for _, it := range items {
		n := itemName(kind, it)
		out[n] = len(n)%2 == 0
	}
	return out, nil
}

// FuzzFilterListing: a listing is either refused or filtered to exactly the
// visible items, in order, with the rest of the result untouched.
func FuzzFilterListing(f *testing.F) {
	f.Add([]byte(`{"tools":[{"name":"ab"},{"name":"abc"},{"name":"abcd","x":1}],"nextCursor":"c"}`), uint8(0))
	f.Add([]byte(`{"resources":[{"uri":"file:///aa","name":"n"},{"uriTemplate":"x://{a}"}]}`), uint8(2))
	f.Add([]byte(`{"resourceTemplates":[{"uriTemplate":"x://{ab}"}]}`), uint8(3))
	f.Add([]byte(`{"prompts":null}`), uint8(1))
	f.Add([]byte(`[]`), uint8(0))
	f.Add([]byte(`{"tools":[{"name":1},"x",null,{"name":"\u00e9e"}]}`), uint8(0))
	methods := []string{"tools/list", "prompts/list", "resources/list", "resources/templates/list"}
	f.Fuzz(func(t *testing.T, result []byte, which uint8) {
		lk := listKinds[methods[int(which)%len(methods)]]
		s := NewSession("fuzz", Client{}, nil, nil, &listHooks{}, nil)
		out, err := s.filterListing(context.Background(), lk.kind, lk.field, result, which%2 == 0)
		if err != nil {
			return
		}
		var in, got map[string]json.RawMessage
		if err := json.Unmarshal(result, &in); err != nil {
			t.Fatalf("accepted a listing that is not an object: %s", result)
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("output is not an object: %v\n%s", err, out)
		}
		var inItems, kept []json.RawMessage
		if raw, ok := in[lk.field]; ok {
			_ = json.Unmarshal(raw, &inItems)
		}
		if err := json.Unmarshal(got[lk.field], &kept); err != nil || kept == nil {
			t.Fatalf("%s is not an array: %s", lk.field, got[lk.field])
		}
		var want []string
		for _, it := range inItems {
			if n := itemName(lk.kind, it); len(n)%2 == 0 {
				want = append(want, string(it))
			}
		}
		if len(kept) != len(want) {
			t.Fatalf("kept %d items, want %d", len(kept), len(want))
		}
		for i := range kept {
			if !bytes.Equal(compact(kept[i]), compact([]byte(want[i]))) && !reflect.DeepEqual(decodeAny(t, kept[i]), decodeAny(t, []byte(want[i]))) {
				t.Fatalf("item %d: %s, want %s", i, kept[i], want[i])
			}
		}
		for k, v := range in {
			if k == lk.field {
				continue
			}
			if !bytes.Equal(compact(got[k]), compact(v)) && !reflect.DeepEqual(decodeAny(t, got[k]), decodeAny(t, v)) {
				t.Fatalf("member %q changed: %s → %s", k, v, got[k])
			}
		}
	})
}

func compact(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

// FuzzRelayRequest posts arbitrary bodies to the handler in an initialized
// session (upstream: the go-sdk test server): never a panic, never a 5xx
// other than 502 (the upstream), and every error body is JSON-RPC.
func FuzzRelayRequest(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}`,
		`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"get-sum","arguments":{"a":"x"}}}`,
		`{"jsonrpc":"2.0","id":"s","method":"ping"}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}`,
		`{"jsonrpc":"2.0","id":5,"result":{}}`,
		`{"jsonrpc":"2.0","id":6,"method":"resources/read","params":{"uri":"x"}}`,
		`{"jsonrpc":"2.0","id":7,"method":"initialize","params":{}}`,
		`{"jsonrpc":"2.0","id":null,"method":"ping"}`,
		`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`,
		`{"jsonrpc":"1.0","id":1,"method":"ping"}`,
		``, `null`, `{`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	hooks := &fakeHooks{approved: map[string]bool{"echo": true, "read-config": true}}
	up := testMCPServer()
	h := NewHandler(HandlerConfig{
		Proxy: &bulwark.Proxy{Name: "fuzz"}, Auth: allowAll{}, Hooks: hooks, MaxMessageBytes: 64 << 10,
		Upstream: upstreamOf(up.URL),
	})
	front := httptest.NewServer(h)
	f.Cleanup(func() {
		h.Close()
		front.CloseClientConnections()
		front.Close()
		up.CloseClientConnections()
		up.Close()
	})
	client := &http.Client{Timeout: 10 * time.Second}
	do := func(t *testing.T, sid string, body []byte) (int, string, []byte) {
		req, _ := http.NewRequest(http.MethodPost, front.URL, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer good")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if sid != "" {
			req.Header.Set(sessionHeader, sid)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get(sessionHeader), b
	}
	sid := ""
	open := func(t *testing.T) {
		status, id, b := do(t, "", []byte(initBody))
		if status != http.StatusOK || id == "" {
			t.Fatalf("initialize: %d %s", status, b)
		}
		sid = id
		do(t, sid, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if sid == "" {
			open(t)
		}
		status, _, b := do(t, sid, body)
		if status >= 500 && status != http.StatusBadGateway {
			t.Fatalf("%q: HTTP %d %s", body, status, b)
		}
		if status >= 400 && !bytes.Contains(b, []byte(`"jsonrpc":"2.0"`)) {
			t.Fatalf("%q: HTTP %d without a JSON-RPC body: %s", body, status, b)
		}
		if status == http.StatusNotFound {
			sid = "" // the session ended: the next input opens another
		}
	})
}
