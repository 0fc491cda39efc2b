package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/proxy/sse"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func apiOf(t testing.TB, name string) API {
	switch {
	case strings.HasPrefix(name, "chat"):
		return APIChat
	case strings.HasPrefix(name, "responses"):
		return APIResponses
	case strings.HasPrefix(name, "messages"):
		return APIMessages
	}
	t.Fatalf("no API for %s", name)
	return ""
}

func golden(t *testing.T, path string, got string) {
	t.Helper()
	gpath := path + ".golden"
	if *update {
		if err := os.WriteFile(gpath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(gpath)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func writeParts(b *strings.Builder, parts []Part) {
	for _, p := range parts {
		fmt.Fprintf(b, "%-60s %-16s %-9s %q\n", p.Path, p.Surface, p.Role, p.Text)
	}
}

func files(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(m) == 0 {
		t.Fatalf("no test data for %s", pattern)
	}
	return m
}

func TestRequestGolden(t *testing.T) {
	for _, path := range files(t, "*.request.json") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ParseRequest(apiOf(t, filepath.Base(path)), body)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			fmt.Fprintf(&b, "model: %s\nstream: %v\n", r.Model, r.Stream)
			writeParts(&b, r.Parts)
			golden(t, path, b.String())
		})
	}
}

func TestResponseGolden(t *testing.T) {
	for _, path := range files(t, "*.response.json") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ParseResponse(apiOf(t, filepath.Base(path)), body)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			fmt.Fprintf(&b, "model: %s\nusage: %+v\n", r.Model, r.Usage)
			writeParts(&b, r.Parts)
			golden(t, path, b.String())
		})
	}
}

func readEvents(t testing.TB, path string) []*sse.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := sse.NewReader(f)
	var evs []*sse.Event
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
}

func TestStreamGolden(t *testing.T) {
	for _, path := range files(t, "*.stream.sse") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			api := apiOf(t, filepath.Base(path))
			d := NewStreamDecoder(api)
			var b strings.Builder
			acc := map[string]string{}
			var keys []string
			for i, ev := range readEvents(t, path) {
				delta, err := d.Decode(ev)
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				fmt.Fprintf(&b, "#%d %s", i, ev.Event)
				if delta.Model != "" {
					fmt.Fprintf(&b, " model=%s", delta.Model)
				}
				if delta.Usage.Present {
					fmt.Fprintf(&b, " usage=%+v", delta.Usage)
				}
				if delta.Done {
					b.WriteString(" done")
				}
				if delta.Error {
					fmt.Fprintf(&b, " error=%q", delta.ErrorMessage)
				}
				b.WriteString("\n")
				for _, dt := range delta.Texts {
					fmt.Fprintf(&b, "    %-18s %-16s full=%-5v %-40s %q\n", dt.Key, dt.Surface, dt.Full, dt.Path, dt.Text)
					if _, ok := acc[dt.Key]; !ok {
						keys = append(keys, dt.Key)
					}
					if dt.Full {
						if acc[dt.Key] != dt.Text {
							t.Errorf("event %d: full text of %s is %q, the deltas gave %q", i, dt.Key, dt.Text, acc[dt.Key])
						}
					} else {
						acc[dt.Key] += dt.Text
					}
				}
			}
			b.WriteString("accumulated:\n")
			for _, k := range keys {
				fmt.Fprintf(&b, "    %-18s %q\n", k, acc[k])
			}
			golden(t, path, b.String())
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		method, path string
		want         API
	}{
		{"POST", "/v1/chat/completions", APIChat},
		{"POST", "/chat/completions", APIChat},
		{"POST", "/v1/chat/completions/", APIChat},
		{"POST", "/v1/chat/completions?x=1", APIChat},
		{"POST", "/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21", APIChat},
		{"POST", "/openai/deployments/gpt-4o-prod/completions", APIOther},
		{"POST", "/openai/deployments/gpt-4o-prod/extensions/chat/completions", APIOther},
		{"POST", "/openai/v1/chat/completions", APIChat},
		{"GET", "/v1/chat/completions", APIOther},
		{"POST", "/v1/responses", APIResponses},
		{"POST", "/responses", APIResponses},
		{"GET", "/v1/responses/resp_123", APIOther},
		{"POST", "/v1/responses/resp_123/cancel", APIOther},
		{"POST", "/v1/messages", APIMessages},
		{"POST", "/v1/messages/count_tokens", APIOther},
		{"POST", "/v1/messages/batches", APIOther},
		{"GET", "/v1/models", APIModels},
		{"GET", "/models", APIModels},
		{"GET", "/v1/models/gpt-4o", APIOther},
		{"POST", "/v1/models", APIOther},
		{"POST", "/v1/embeddings", APIOther},
		{"POST", "v1/messages", APIMessages},
		{"POST", "", APIOther},
	}
	for _, tt := range tests {
		if got := Classify(tt.method, tt.path); got != tt.want {
			t.Errorf("Classify(%s %s) = %s, want %s", tt.method, tt.path, got, tt.want)
		}
	}
	if d, ok := AzureDeployment("/openai/deployments/gpt-4o-prod/chat/completions"); !ok || d != "gpt-4o-prod" {
		t.Errorf("AzureDeployment = %q, %v", d, ok)
	}
}

// TestRoundTrip replaces every text of every test body, one at a time and
// all together, and checks that the re-encoded body reads back with the
// new texts and nothing else changed.
func TestRoundTrip(t *testing.T) {
	for _, path := range append(files(t, "*.request.json"), files(t, "*.response.json")...) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			api := apiOf(t, filepath.Base(path))
			isReq := strings.Contains(path, ".request.")
			type doc interface {
				SetText(int, string)
				Encode() ([]byte, error)
				Modified() bool
			}
			parse := func(b []byte) (doc, []Part) {
				t.Helper()
				if isReq {
					r, err := ParseRequest(api, b)
					if err != nil {
						t.Fatalf("parse: %v\n%s", err, b)
					}
					return r, r.Parts
				}
				r, err := ParseResponse(api, b)
				if err != nil {
					t.Fatalf("parse: %v\n%s", err, b)
				}
				return r, r.Parts
			}
			d, parts := parse(body)
			out, _ := d.Encode()
			if d.Modified() || !bytes.Equal(out, body) || &out[0] != &body[0] {
				t.Fatal("an unmodified body must come back as the original bytes")
			}
			for i := range parts {
				d, _ := parse(body)
				repl := fmt.Sprintf("[REDACTED %d] \"quoted\" \n <tag> & é \u2028", i)
				d.SetText(i, repl)
				enc, err := d.Encode()
				if err != nil {
					t.Fatal(err)
				}
				if !json.Valid(enc) {
					t.Fatalf("invalid JSON: %s", enc)
				}
				_, again := parse(enc)
				if len(again) != len(parts) {
					t.Fatalf("part %d: %d parts after the round trip, want %d", i, len(again), len(parts))
				}
				for j := range parts {
					want := parts[j].Text
					if j == i {
						want = repl
					}
					if again[j].Text != want || again[j].Path != parts[j].Path || again[j].Surface != parts[j].Surface {
						t.Fatalf("after setting part %d, part %d is %+v, want text %q at %s", i, j, again[j], want, parts[j].Path)
					}
				}
				// Everything that is not a text stays semantically equal.
				if !sameExceptStrings(t, body, enc) {
					t.Fatalf("part %d: the body changed beyond its strings:\n%s", i, enc)
				}
			}
		})
	}
}

// sameExceptStrings compares two JSON documents with every string value
// masked: structure, numbers (by their literal), booleans and nulls must
// be equal.
func sameExceptStrings(t *testing.T, a, b []byte) bool {
	t.Helper()
	mask := func(data []byte) string {
		root, err := parseJSON(data)
		if err != nil {
			t.Fatal(err)
		}
		var walk func(n *node)
		walk = func(n *node) {
			if n.kind == kString {
				n.str = "S"
			}
			for _, v := range n.vals {
				walk(v)
			}
		}
		walk(root)
		return string(appendJSON(nil, root))
	}
	return mask(a) == mask(b)
}

func TestRoundTripKeepsNumbersAndMedia(t *testing.T) {
	body, _ := os.ReadFile("testdata/chat_tools.request.json")
	r, err := ParseRequest(APIChat, body)
	if err != nil {
		t.Fatal(err)
	}
	r.SetText(0, "x")
	out, _ := r.Encode()
	for _, lit := range []string{`"maximum":1e1`, `"temperature":0.70`, `"seed":12345678901234567890`, `"days\": 1`} {
		if lit == `"days\": 1` {
			lit = `\"days\": 1` // arguments untouched: the embedded document is not re-encoded
		}
		if !bytes.Contains(out, []byte(lit)) {
			t.Errorf("%s lost from %s", lit, out)
		}
	}

	body, _ = os.ReadFile("testdata/chat_multimodal.request.json")
	r, err = ParseRequest(APIChat, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range r.Parts {
		r.SetText(i, "redacted")
	}
	out, _ = r.Encode()
	for _, lit := range []string{
		`"image_url":{"url":"https://upload.wikimedia.org/wikipedia/commons/thumb/d/dd/Gfp-wisconsin-madison-the-nature-boardwalk.jpg/2560px-Gfp-wisconsin-madison-the-nature-boardwalk.jpg","detail":"high"}`,
		`"url":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="`,
		`"input_audio":{"data":"UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=","format":"wav"}`,
	} {
		if !bytes.Contains(out, []byte(lit)) {
			t.Errorf("media part changed: %s missing from\n%s", lit, out)
		}
	}

	// Changing one argument value re-encodes the arguments document only.
	body, _ = os.ReadFile("testdata/chat_tools.request.json")
	r, _ = ParseRequest(APIChat, body)
	for i, p := range r.Parts {
		if p.Path == "messages[2].tool_calls[0].function.arguments.location" {
			r.SetText(i, "[LOCATION]")
		}
	}
	out, _ = r.Encode()
	if !bytes.Contains(out, []byte(`"arguments":"{\"location\":\"[LOCATION]\",\"unit\":\"celsius\",\"days\":1}"`)) {
		t.Errorf("arguments not rewritten: %s", out)
	}
}

func TestInjectSystem(t *testing.T) {
	t.Run("chat", func(t *testing.T) {
		body, _ := os.ReadFile("testdata/chat_tools.request.json")
		r, _ := ParseRequest(APIChat, body)
		before := r.Parts[1]
		r.InjectSystem("Follow the company policy.")
		if !r.Modified() {
			t.Fatal("not modified")
		}
		if r.Parts[1].Path != "messages[2].content" || before.Path != "messages[1].content" || r.Parts[1].Text != before.Text {
			t.Fatalf("paths not shifted: %+v", r.Parts[1])
		}
		r.SetText(1, "changed")
		out, _ := r.Encode()
		if !bytes.HasPrefix(out, []byte(`{"model":"gpt-4o","messages":[{"role":"system","content":"Follow the company policy."},{"role":"developer"`)) {
			t.Fatalf("got %s", out)
		}
		r2, err := ParseRequest(APIChat, out)
		if err != nil {
			t.Fatal(err)
		}
		if r2.Parts[0].Text != "Follow the company policy." || r2.Parts[0].Surface != bulwark.SurfaceSystemPrompt {
			t.Fatalf("first part %+v", r2.Parts[0])
		}
		for i, p := range r.Parts {
			if r2.Parts[i+1].Path != p.Path || r2.Parts[i+1].Text != p.Text {
				t.Fatalf("part %d: %+v after re-parse, want %+v", i, r2.Parts[i+1], p)
			}
		}
	})
	t.Run("responses", func(t *testing.T) {
		body, _ := os.ReadFile("testdata/responses_items.request.json")
		r, _ := ParseRequest(APIResponses, body)
		r.InjectSystem("Policy A.")
		r.InjectSystem("Policy B.")
		r.SetText(0, "Client instructions (redacted).") // the client's instructions
		out, _ := r.Encode()
		r2, _ := ParseRequest(APIResponses, out)
		if want := "Policy B.\n\nPolicy A.\n\nClient instructions (redacted)."; r2.Parts[0].Text != want {
			t.Fatalf("instructions = %q, want %q", r2.Parts[0].Text, want)
		}
		// Encode does not keep the joined text in the document.
		if r.Parts[0].Text != "Client instructions (redacted)." {
			t.Fatal(r.Parts[0].Text)
		}

		r, _ = ParseRequest(APIResponses, []byte(`{"model":"gpt-4.1","input":"hi","instructions":null}`))
		r.InjectSystem("Policy.")
		out, _ = r.Encode()
		if string(out) != `{"model":"gpt-4.1","input":"hi","instructions":"Policy."}` {
			t.Fatalf("got %s", out)
		}
		r, _ = ParseRequest(APIResponses, []byte(`{"input":"hi","model":"gpt-4.1"}`))
		r.InjectSystem("Policy.")
		out, _ = r.Encode()
		if string(out) != `{"input":"hi","model":"gpt-4.1","instructions":"Policy."}` {
			t.Fatalf("got %s", out)
		}
	})
	t.Run("anthropic", func(t *testing.T) {
		body, _ := os.ReadFile("testdata/messages_tools.request.json")
		r, _ := ParseRequest(APIMessages, body)
		r.InjectSystem("Policy.")
		if r.Parts[0].Path != "system[1].text" {
			t.Fatalf("path %s", r.Parts[0].Path)
		}
		out, _ := r.Encode()
		if !bytes.Contains(out, []byte(`"system":[{"type":"text","text":"Policy."},{"type":"text","text":"You are an AI`)) {
			t.Fatalf("got %s", out)
		}

		r, _ = ParseRequest(APIMessages, []byte(`{"model":"claude","system":"Be brief.","messages":[]}`))
		r.InjectSystem("Policy.")
		out, _ = r.Encode()
		if string(out) != `{"model":"claude","system":"Policy.\n\nBe brief.","messages":[]}` {
			t.Fatalf("got %s", out)
		}
		r, _ = ParseRequest(APIMessages, []byte(`{"model":"claude","messages":[]}`))
		r.InjectSystem("Policy.")
		out, _ = r.Encode()
		if string(out) != `{"model":"claude","system":"Policy.","messages":[]}` {
			t.Fatalf("got %s", out)
		}
	})
}

func TestEnsureStreamUsage(t *testing.T) {
	tests := []struct {
		body    string
		changed bool
		want    string
	}{
		{`{"model":"m","messages":[],"stream":true}`, true, `{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}}`},
		{`{"model":"m","messages":[],"stream":true,"stream_options":null}`, true, `{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}}`},
		{`{"model":"m","messages":[],"stream":true,"stream_options":{"include_obfuscation":false}}`, true, `{"model":"m","messages":[],"stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true}}`},
		{`{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":false}}`, true, `{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}}`},
		{`{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}}`, false, ""},
		{`{"model":"m","messages":[]}`, false, ""},
		{`{"model":"m","messages":[],"stream":false}`, false, ""},
	}
	for _, tt := range tests {
		r, err := ParseRequest(APIChat, []byte(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		if got := r.EnsureStreamUsage(); got != tt.changed {
			t.Errorf("%s: changed = %v", tt.body, got)
		}
		out, _ := r.Encode()
		if tt.changed && string(out) != tt.want || !tt.changed && string(out) != tt.body {
			t.Errorf("%s: got %s", tt.body, out)
		}
	}
	r, _ := ParseRequest(APIMessages, []byte(`{"model":"m","messages":[],"stream":true}`))
	if r.EnsureStreamUsage() {
		t.Error("Anthropic streams always report usage")
	}
}

func TestParseRequestErrors(t *testing.T) {
	deep := `{"model":"m","messages":[{"role":"user","content":"x","extra":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}]}`
	tests := []struct {
		api  API
		body string
		want string // substring of the message
	}{
		{APIChat, ``, "the request body is empty"},
		{APIChat, `{"model":"m","messages":[}`, "invalid JSON at line 1, column 26 (byte offset 25): invalid character '}'"},
		{APIChat, "{\n  \"model\": \"m\",\n  \"messages\": [\n", "the document ends early"},
		{APIChat, `{"model":"m","messages":[]} x`, "unexpected data after the top-level value"},
		{APIChat, `[1,2]`, "must be a JSON object, got an array"},
		{APIChat, `{"messages":[]}`, "model: is missing"},
		{APIChat, `{"model":7,"messages":[]}`, "model: must be a non-empty string, got a number"},
		{APIChat, `{"model":"m"}`, "messages: is missing"},
		{APIChat, `{"model":"m","messages":"hi"}`, "messages: must be an array"},
		{APIChat, `{"model":"m","messages":["hi"]}`, "messages[0]: must be a message object"},
		{APIChat, `{"model":"m","messages":[{"content":"hi"}]}`, "messages[0].role: must be a string"},
		{APIChat, `{"model":"m","messages":[{"role":"user","content":5}]}`, "messages[0].content: must be a string or an array of content parts, got a number"},
		{APIChat, `{"model":"m","messages":[{"role":"user","content":[5]}]}`, "messages[0].content[0]: must be a content part object"},
		{APIChat, `{"model":"m","messages":[],"stream":"yes"}`, "stream: must be true or false"},
		{APIChat, `{"model":"m","messages":[],"tools":{}}`, "tools: must be an array"},
		{APIChat, `{"model":"m","messages":[],"model":"n"}`, `duplicate key "model"`},
		{APIChat, deep, "nested deeper than 64 levels"},
		{APIResponses, `{"model":"m","input":5}`, "input: must be a string or an array of input items"},
		{APIResponses, `{"model":"m","input":[{"content":"x"}]}`, "input[0].type: is missing"},
		{APIResponses, `{"model":"m","instructions":["x"]}`, "instructions: must be a string"},
		{APIMessages, `{"model":"m","system":5,"messages":[]}`, "system: must be a string or an array of text blocks"},
		{APIMessages, `{"model":"m","messages":[{"role":"user","content":{"type":"text"}}]}`, "messages[0].content: must be a string or an array"},
		{APIModels, `{}`, "carry no body"},
	}
	for _, tt := range tests {
		_, err := ParseRequest(tt.api, []byte(tt.body))
		var be *bulwark.Error
		if !errors.As(err, &be) || be.Code != bulwark.CodeInvalid {
			t.Errorf("%s: err = %v, want a bulwark.Error with CodeInvalid", tt.body, err)
			continue
		}
		if !strings.Contains(be.Message, tt.want) {
			t.Errorf("%.60s: message %q does not contain %q", tt.body, be.Message, tt.want)
		}
	}
	// Azure bodies may leave the model to the path.
	r, err := ParseRequest(APIChat, []byte(`{"messages":[]}`), WithDefaultModel("gpt-4o-prod"))
	if err != nil || r.Model != "gpt-4o-prod" {
		t.Errorf("WithDefaultModel: %v, %v", r, err)
	}
	r, err = ParseRequest(APIChat, []byte(`{"model":"gpt-4o","messages":[]}`), WithDefaultModel("gpt-4o-prod"))
	if err != nil || r.Model != "gpt-4o" {
		t.Errorf("WithDefaultModel overrides the body: %v, %v", r, err)
	}
	// 64 levels are fine.
	ok := `{"model":"m","messages":[{"role":"user","content":"x","extra":` + strings.Repeat("[", 61) + strings.Repeat("]", 61) + `}]}`
	if _, err := ParseRequest(APIChat, []byte(ok)); err != nil {
		t.Errorf("64 levels: %v", err)
	}
}

func TestErrorBody(t *testing.T) {
	tests := []struct {
		api                    API
		status                 int
		errType, code, message string
		want                   string
	}{
		{APIChat, 400, "invalid_request_error", "bulwark_policy_block", "Blocked by policy PI-001.",
			`{"error":{"message":"Blocked by policy PI-001.","type":"invalid_request_error","param":null,"code":"bulwark_policy_block"}}`},
		{APIResponses, 429, "", "", "Budget \"team\" exhausted",
			`{"error":{"message":"Budget \"team\" exhausted","type":"rate_limit_error","param":null,"code":null}}`},
		{APIOther, 502, "", "", "upstream down", `{"error":{"message":"upstream down","type":"server_error","param":null,"code":null}}`},
		{APIMessages, 400, "invalid_request_error", "x", "Blocked <b>", `{"type":"error","error":{"type":"invalid_request_error","message":"Blocked <b>"}}`},
		{APIMessages, 401, "", "", "bad key", `{"type":"error","error":{"type":"authentication_error","message":"bad key"}}`},
		{APIMessages, 403, "policy_violation", "", "no", `{"type":"error","error":{"type":"permission_error","message":"no"}}`},
		{APIMessages, 404, "", "", "no", `{"type":"error","error":{"type":"not_found_error","message":"no"}}`},
		{APIMessages, 413, "", "", "no", `{"type":"error","error":{"type":"request_too_large","message":"no"}}`},
		{APIMessages, 429, "rate_limit_exceeded", "", "slow", `{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}`},
		{APIMessages, 500, "server_error", "", "oops", `{"type":"error","error":{"type":"api_error","message":"oops"}}`},
		{APIMessages, 502, "", "", "oops", `{"type":"error","error":{"type":"api_error","message":"oops"}}`},
		{APIMessages, 529, "", "", "busy", `{"type":"error","error":{"type":"overloaded_error","message":"busy"}}`},
		{APIMessages, 422, "", "", "bad", `{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}`},
	}
	for _, tt := range tests {
		got := ErrorBody(tt.api, tt.status, tt.errType, tt.code, tt.message)
		if string(got) != tt.want {
			t.Errorf("ErrorBody(%s, %d, %q) =\n%s\nwant\n%s", tt.api, tt.status, tt.errType, got, tt.want)
		}
		if !json.Valid(got) {
			t.Errorf("invalid JSON %s", got)
		}
	}
}

func TestStreamErrorEvent(t *testing.T) {
	tests := []struct {
		api  API
		want string
	}{
		{APIChat, "data: {\"error\":{\"message\":\"Blocked: PI-001\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"bulwark_policy_block\"}}\n\n"},
		{APIResponses, "event: error\ndata: {\"type\":\"error\",\"code\":\"bulwark_policy_block\",\"message\":\"Blocked: PI-001\",\"param\":null}\n\n"},
		{APIMessages, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"Blocked: PI-001\"}}\n\n"},
	}
	for _, tt := range tests {
		got := StreamErrorEvent(tt.api, "invalid_request_error", "bulwark_policy_block", "Blocked: PI-001")
		if string(got) != tt.want {
			t.Errorf("%s:\n%q\nwant\n%q", tt.api, got, tt.want)
		}
		// Our own decoder recognises it as an upstream error.
		ev, err := sse.NewReader(bytes.NewReader(got)).Next()
		if err != nil {
			t.Fatal(err)
		}
		d, err := NewStreamDecoder(tt.api).Decode(ev)
		if err != nil || !d.Error || d.ErrorMessage != "Blocked: PI-001" {
			t.Errorf("%s: decoded as %+v, %v", tt.api, d, err)
		}
	}
	if got := StreamErrorEvent(APIMessages, "", "", "x"); !bytes.Contains(got, []byte(`"type":"api_error"`)) {
		t.Errorf("default Anthropic type: %s", got)
	}
}

func TestRewriteEvent(t *testing.T) {
	for _, path := range files(t, "*.stream.sse") {
		api := apiOf(t, filepath.Base(path))
		for i, ev := range readEvents(t, path) {
			d, err := NewStreamDecoder(api).Decode(ev)
			if err != nil {
				t.Fatal(err)
			}
			if raw, err := RewriteEvent(api, ev, nil); err != nil || !bytes.Equal(raw, ev.Raw) {
				t.Fatalf("%s #%d: without replacements the raw event must come back", path, i)
			}
			if len(d.Texts) == 0 {
				continue
			}
			texts := map[int]string{}
			for j := range d.Texts {
				texts[j] = fmt.Sprintf("[R%d \"x\"]", j)
			}
			out, err := RewriteEvent(api, ev, texts)
			if err != nil {
				t.Fatalf("%s #%d: %v", path, i, err)
			}
			ev2, err := sse.NewReader(bytes.NewReader(out)).Next()
			if err != nil || ev2.Event != ev.Event {
				t.Fatalf("%s #%d: %q: %v", path, i, out, err)
			}
			d2, err := NewStreamDecoder(api).Decode(ev2)
			if err != nil || len(d2.Texts) != len(d.Texts) {
				t.Fatalf("%s #%d: %+v, %v", path, i, d2, err)
			}
			for j, dt := range d2.Texts {
				if dt.Text != texts[j] || dt.Key != d.Texts[j].Key || dt.Path != d.Texts[j].Path {
					t.Fatalf("%s #%d: text %d = %+v", path, i, j, dt)
				}
			}
		}
	}
	ev := &sse.Event{Data: `{"choices":[{"index":0,"delta":{"content":"x"}}]}`}
	if _, err := RewriteEvent(APIChat, ev, map[int]string{3: "y"}); err == nil {
		t.Error("an index beyond the texts must fail")
	}
}

func TestStreamDecodeEdges(t *testing.T) {
	d := NewStreamDecoder(APIChat)
	if got, err := d.Decode(&sse.Event{Raw: []byte(": keep-alive\n\n")}); err != nil || len(got.Texts) != 0 || got.Done {
		t.Errorf("comment: %+v, %v", got, err)
	}
	if _, err := d.Decode(&sse.Event{Data: "{not json"}); err == nil {
		t.Error("bad JSON must fail")
	}
	// Anthropic: message_delta may repeat the input counts (newer API
	// versions) or leave them out; the decoder keeps message_start's.
	m := NewStreamDecoder(APIMessages)
	m.Decode(&sse.Event{Data: `{"type":"message_start","message":{"model":"claude","usage":{"input_tokens":10,"cache_read_input_tokens":5,"cache_creation_input_tokens":2,"output_tokens":1}}}`})
	got, _ := m.Decode(&sse.Event{Data: `{"type":"message_delta","delta":{},"usage":{"output_tokens":7}}`})
	if want := (Usage{InputTokens: 10, OutputTokens: 7, CachedTokens: 5, CacheWriteTokens: 2, Present: true}); got.Usage != want {
		t.Errorf("usage %+v, want %+v", got.Usage, want)
	}
	got, _ = m.Decode(&sse.Event{Data: `{"type":"message_delta","delta":{},"usage":{"input_tokens":11,"cache_read_input_tokens":null,"output_tokens":9}}`})
	if want := (Usage{InputTokens: 11, OutputTokens: 9, CachedTokens: 5, CacheWriteTokens: 2, Present: true}); got.Usage != want {
		t.Errorf("usage %+v, want %+v", got.Usage, want)
	}
	// Several choices keep their own slots.
	got, _ = d.Decode(&sse.Event{Data: `{"model":"m","choices":[{"index":1,"delta":{"content":"b","tool_calls":[{"index":2,"function":{"arguments":"{"}}]}},{"index":0,"delta":{"refusal":"no"}}]}`})
	var keys []string
	for _, dt := range got.Texts {
		keys = append(keys, dt.Key+"="+dt.Path)
	}
	if want := "choice1=choices[0].delta.content choice1.tool2=choices[0].delta.tool_calls[0].function.arguments choice0.refusal=choices[1].delta.refusal"; strings.Join(keys, " ") != want {
		t.Errorf("keys %s", strings.Join(keys, " "))
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, p := range []string{"chat_tools", "chat_multimodal", "responses_items", "messages_tools"} {
		b, _ := os.ReadFile("testdata/" + p + ".request.json")
		f.Add(uint8(apiIndex(apiOf(f, p))), b)
	}
	f.Add(uint8(0), []byte(`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"function":{"arguments":"[\"a\",{\"b\":\"c\"}]"}}]}]}`))
	f.Fuzz(func(t *testing.T, a uint8, body []byte) {
		api := apis[int(a)%len(apis)]
		r, err := ParseRequest(api, body)
		if err != nil {
			var be *bulwark.Error
			if !errors.As(err, &be) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if out, _ := r.Encode(); !bytes.Equal(out, body) {
			t.Fatal("unmodified body changed")
		}
		want := make([]string, len(r.Parts))
		for i := range r.Parts {
			want[i] = fmt.Sprintf("<%d>", i)
			r.SetText(i, want[i])
		}
		r.InjectSystem("governance")
		r.EnsureStreamUsage()
		out, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		r2, err := ParseRequest(api, out)
		if err != nil {
			t.Fatalf("re-encoded body does not parse: %v\n%s", err, out)
		}
		var got []string
		for _, p := range r2.Parts {
			// The injected prompt is a part of its own or joined in front.
			if p.Text != "governance" {
				got = append(got, strings.TrimPrefix(p.Text, "governance\n\n"))
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("texts after the round trip %q, want %q\n%s", got, want, out)
		}
	})
}

var apis = []API{APIChat, APIResponses, APIMessages}

func apiIndex(a API) int {
	for i, x := range apis {
		if x == a {
			return i
		}
	}
	return 0
}

func FuzzParseResponse(f *testing.F) {
	for _, p := range []string{"chat", "responses", "messages"} {
		b, _ := os.ReadFile("testdata/" + p + ".response.json")
		f.Add(uint8(apiIndex(apiOf(f, p))), b)
	}
	f.Fuzz(func(t *testing.T, a uint8, body []byte) {
		api := apis[int(a)%len(apis)]
		r, err := ParseResponse(api, body)
		if err != nil {
			return
		}
		for i := range r.Parts {
			r.SetText(i, fmt.Sprintf("<%d>", i))
		}
		out, _ := r.Encode()
		r2, err := ParseResponse(api, out)
		if err != nil {
			t.Fatalf("re-encoded body does not parse: %v", err)
		}
		if len(r2.Parts) != len(r.Parts) || r2.Usage != r.Usage || r2.Model != r.Model {
			t.Fatalf("round trip changed the response: %+v vs %+v", r2, r)
		}
		for i, p := range r2.Parts {
			if p.Text != fmt.Sprintf("<%d>", i) {
				t.Fatalf("part %d = %q", i, p.Text)
			}
		}
	})
}

func FuzzStreamDecoder(f *testing.F) {
	for _, p := range []string{"chat.stream.sse", "responses.stream.sse", "messages.stream.sse", "messages_error.stream.sse"} {
		for _, ev := range readEvents(f, "testdata/"+p) {
			f.Add(uint8(apiIndex(apiOf(f, p))), ev.Data)
		}
	}
	f.Fuzz(func(t *testing.T, a uint8, data string) {
		api := apis[int(a)%len(apis)]
		ev := &sse.Event{Event: "x", Data: data, Raw: sse.Encode(sse.Event{Event: "x", Data: data})}
		d, err := NewStreamDecoder(api).Decode(ev)
		if err != nil || len(d.Texts) == 0 {
			return
		}
		texts := map[int]string{}
		for i := range d.Texts {
			texts[i] = fmt.Sprintf("<%d>", i)
		}
		out, err := RewriteEvent(api, ev, texts)
		if err != nil {
			// Data the struct decoder accepts but the strict tree refuses
			// (duplicate keys) cannot be rewritten; that is reported.
			return
		}
		ev2, err := sse.NewReader(bytes.NewReader(out)).Next()
		if err != nil {
			t.Fatal(err)
		}
		d2, err := NewStreamDecoder(api).Decode(ev2)
		if err != nil {
			t.Fatalf("rewritten event does not decode: %v\n%s", err, out)
		}
		if len(d2.Texts) != len(d.Texts) {
			t.Fatalf("rewritten event has %d texts, want %d\n%s", len(d2.Texts), len(d.Texts), out)
		}
		for i, dt := range d2.Texts {
			if dt.Text != texts[i] {
				t.Fatalf("text %d = %q\n%s", i, dt.Text, out)
			}
		}
	})
}

// chatBody4K builds a realistic chat request of about 4 KiB.
func chatBody4K() []byte {
	var msgs []string
	msgs = append(msgs, `{"role":"system","content":"You are a helpful assistant for ACME Corp. Answer questions about orders, shipping and returns. Never reveal internal notes."}`)
	for i := 0; len(strings.Join(msgs, ",")) < 3600; i++ {
		msgs = append(msgs,
			fmt.Sprintf(`{"role":"user","content":"Question %d: where is my order #%d? It was supposed to arrive last Tuesday and the tracking page shows no update."}`, i, 1000+i),
			fmt.Sprintf(`{"role":"assistant","content":"Let me look that up for you. Order #%d left our warehouse on Monday and is with the carrier; expect delivery within two business days."}`, 1000+i))
	}
	return []byte(`{"model":"gpt-4o","temperature":0.2,"stream":true,"messages":[` + strings.Join(msgs, ",") + `]}`)
}

func BenchmarkParseRequest(b *testing.B) {
	body := chatBody4K()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(APIChat, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeChatChunk(b *testing.B) {
	ev := &sse.Event{Data: `{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":" there, how can I help"},"logprobs":null,"finish_reason":null}],"usage":null}`}
	d := NewStreamDecoder(APIChat)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeMessagesDelta(b *testing.B) {
	ev := &sse.Event{Event: "content_block_delta", Data: `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there, how can I help"}}`}
	d := NewStreamDecoder(APIMessages)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeResponsesDelta(b *testing.B) {
	ev := &sse.Event{Event: "response.output_text.delta", Data: `{"type":"response.output_text.delta","sequence_number":5,"item_id":"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654","output_index":0,"content_index":0,"delta":" there, how can I help","logprobs":[]}`}
	d := NewStreamDecoder(APIResponses)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(ev); err != nil {
			b.Fatal(err)
		}
	}
}
