package llm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	chatBody      = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello world"}]}`
	chatStream    = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello world"}]}`
	chatStreamUse = `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hello world"}]}]}`
	respBody      = `{"model":"gpt-4o-mini","instructions":"be brief","input":"hello world"}`
	respStream    = `{"model":"gpt-4o-mini","instructions":"be brief","stream":true,"input":[{"role":"user","content":[{"type":"input_text","text":"hello world"}]}]}`
	msgBody       = `{"model":"claude-sonnet-4-5","max_tokens":64,"system":"be brief","messages":[{"role":"user","content":"hello world"}]}`
	msgStream     = `{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"system":[{"type":"text","text":"be brief"}],"messages":[{"role":"user","content":[{"type":"text","text":"hello world"}]}]}`
	azurePath     = "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
	wantReply     = "echo: hello world"
	// "be brief" (8 runes) = 2 tokens, "hello world" (11) = 3, reply (17) = 5.
	wantPrompt = 5
	wantOutput = 5
)

var anthropicHeaders = map[string]string{"anthropic-version": "2023-06-01"}

func start(t *testing.T, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	s := New(opts)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

func send(t *testing.T, ts *httptest.Server, method, path string, hdr map[string]string, body string) *http.Response {
	t.Helper()
	resp, err := sendCtx(context.Background(), ts, method, path, hdr, body)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func sendCtx(ctx context.Context, ts *httptest.Server, method, path string, hdr map[string]string, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return ts.Client().Do(req)
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func decodeBody(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, b)
	}
	return m
}

// get walks a decoded JSON value: get(m, "usage", "prompt_tokens"), with
// ints as array indexes.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

type event struct {
	name, data string
	at         time.Duration
}

// readEvents reads SSE frames as a client does, noting when each arrived.
func readEvents(t *testing.T, r io.Reader) ([]event, error) {
	t.Helper()
	br := bufio.NewReader(r)
	begin := time.Now()
	var evs []event
	var cur event
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return evs, err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if cur.data != "" || cur.name != "" {
				cur.at = time.Since(begin)
				evs = append(evs, cur)
				cur = event{}
			}
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		default:
			t.Fatalf("unexpected SSE line %q", line)
		}
	}
}

func TestNonStream(t *testing.T) {
	_, ts := start(t, Options{})
	tests := []struct {
		name, path, body string
		hdr              map[string]string
		text             []any // path to the reply text
		check            func(t *testing.T, m map[string]any)
	}{
		{"chat", "/v1/chat/completions", chatBody, nil, []any{"choices", 0, "message", "content"}, func(t *testing.T, m map[string]any) {
			if m["object"] != "chat.completion" || get(m, "choices", 0, "finish_reason") != "stop" || m["model"] != "gpt-4o-mini" {
				t.Errorf("shape: %v", m)
			}
			u := m["usage"]
			if num(get(u, "prompt_tokens")) != wantPrompt || num(get(u, "completion_tokens")) != wantOutput ||
				num(get(u, "total_tokens")) != wantPrompt+wantOutput || num(get(u, "prompt_tokens_details", "cached_tokens")) != 2 {
				t.Errorf("usage: %v", u)
			}
		}},
		{"azure", azurePath, `{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello world"}]}`, nil, []any{"choices", 0, "message", "content"}, func(t *testing.T, m map[string]any) {
			if m["model"] != "gpt-4o-mini" || get(m, "prompt_filter_results", 0, "content_filter_results", "hate", "severity") != "safe" {
				t.Errorf("shape: %v", m)
			}
			if num(get(m, "usage", "prompt_tokens")) != wantPrompt {
				t.Errorf("usage: %v", m["usage"])
			}
		}},
		{"responses", "/v1/responses", respBody, nil, []any{"output", 0, "content", 0, "text"}, func(t *testing.T, m map[string]any) {
			if m["object"] != "response" || m["status"] != "completed" || m["instructions"] != "be brief" || get(m, "output", 0, "role") != "assistant" {
				t.Errorf("shape: %v", m)
			}
			u := m["usage"]
			if num(get(u, "input_tokens")) != wantPrompt || num(get(u, "output_tokens")) != wantOutput ||
				num(get(u, "total_tokens")) != wantPrompt+wantOutput || num(get(u, "input_tokens_details", "cached_tokens")) != 2 {
				t.Errorf("usage: %v", u)
			}
		}},
		{"messages", "/v1/messages", msgBody, anthropicHeaders, []any{"content", 0, "text"}, func(t *testing.T, m map[string]any) {
			if m["type"] != "message" || m["role"] != "assistant" || m["stop_reason"] != "end_turn" || get(m, "content", 0, "type") != "text" {
				t.Errorf("shape: %v", m)
			}
			u := m["usage"]
			if num(get(u, "input_tokens")) != wantPrompt-2 || num(get(u, "cache_read_input_tokens")) != 2 ||
				num(get(u, "output_tokens")) != wantOutput || get(u, "cache_creation_input_tokens") != float64(0) {
				t.Errorf("usage: %v", u)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := send(t, ts, http.MethodPost, tt.path, merge(tt.hdr, map[string]string{"X-Fake-Cached-Tokens": "2"}), tt.body)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			m := decodeBody(t, resp)
			if got := get(m, tt.text...); got != wantReply {
				t.Errorf("reply %q, want %q", got, wantReply)
			}
			tt.check(t, m)
		})
	}
}

func TestStream(t *testing.T) {
	_, ts := start(t, Options{Chunks: 4})
	tests := []struct {
		name, path, body string
		hdr              map[string]string
		names            []string // event: lines, in order, deltas collapsed to one
		delta            func(e event) (string, bool)
		check            func(t *testing.T, evs []event)
	}{
		{"chat", "/v1/chat/completions", chatStream, nil, nil, chatDeltaText, func(t *testing.T, evs []event) {
			if evs[len(evs)-1].data != "[DONE]" {
				t.Errorf("last event %q", evs[len(evs)-1].data)
			}
			for _, e := range evs {
				if strings.Contains(e.data, `"usage"`) {
					t.Errorf("usage without include_usage: %s", e.data)
				}
			}
			if !strings.Contains(evs[len(evs)-2].data, `"finish_reason":"stop"`) {
				t.Errorf("no finish chunk: %s", evs[len(evs)-2].data)
			}
		}},
		{"chat include_usage", "/v1/chat/completions", chatStreamUse, nil, nil, chatDeltaText, func(t *testing.T, evs []event) {
			var last map[string]any
			if err := json.Unmarshal([]byte(evs[len(evs)-2].data), &last); err != nil {
				t.Fatal(err)
			}
			if choices, _ := last["choices"].([]any); choices == nil || len(choices) != 0 {
				t.Errorf("usage chunk choices: %v", last["choices"])
			}
			if num(get(last, "usage", "prompt_tokens")) != wantPrompt || num(get(last, "usage", "completion_tokens")) != wantOutput {
				t.Errorf("usage: %v", last["usage"])
			}
			if !strings.Contains(evs[0].data, `"usage":null`) || !strings.Contains(evs[0].data, `"role":"assistant"`) {
				t.Errorf("first chunk: %s", evs[0].data)
			}
		}},
		{"azure", azurePath, chatStreamUse, nil, nil, chatDeltaText, func(t *testing.T, evs []event) {
			if !strings.Contains(evs[0].data, "prompt_filter_results") {
				t.Errorf("first azure chunk: %s", evs[0].data)
			}
		}},
		{"responses", "/v1/responses", respStream, nil,
			[]string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
				"response.output_text.delta", "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"},
			func(e event) (string, bool) {
				if e.name != "response.output_text.delta" {
					return "", false
				}
				var v struct{ Delta string }
				json.Unmarshal([]byte(e.data), &v)
				return v.Delta, true
			},
			func(t *testing.T, evs []event) {
				var done map[string]any
				json.Unmarshal([]byte(evs[len(evs)-1].data), &done)
				if get(done, "response", "status") != "completed" || num(get(done, "response", "usage", "input_tokens")) != wantPrompt ||
					num(get(done, "response", "usage", "output_tokens")) != wantOutput || get(done, "response", "output", 0, "content", 0, "text") != wantReply {
					t.Errorf("response.completed: %s", evs[len(evs)-1].data)
				}
				for i, e := range evs {
					var v struct {
						Type string `json:"type"`
						Seq  int    `json:"sequence_number"`
					}
					json.Unmarshal([]byte(e.data), &v)
					if v.Type != e.name || v.Seq != i {
						t.Errorf("event %d: type %q seq %d, event line %q", i, v.Type, v.Seq, e.name)
					}
				}
			}},
		{"messages", "/v1/messages", msgStream, anthropicHeaders,
			[]string{"message_start", "content_block_start", "ping", "content_block_delta", "content_block_stop", "message_delta", "message_stop"},
			func(e event) (string, bool) {
				if e.name != "content_block_delta" {
					return "", false
				}
				var v struct{ Delta struct{ Type, Text string } }
				json.Unmarshal([]byte(e.data), &v)
				return v.Delta.Text, v.Delta.Type == "text_delta"
			},
			func(t *testing.T, evs []event) {
				var st, md map[string]any
				json.Unmarshal([]byte(evs[0].data), &st)
				json.Unmarshal([]byte(evs[len(evs)-2].data), &md)
				if num(get(st, "message", "usage", "input_tokens")) != wantPrompt || get(st, "message", "role") != "assistant" {
					t.Errorf("message_start: %s", evs[0].data)
				}
				if num(get(md, "usage", "output_tokens")) != wantOutput || get(md, "delta", "stop_reason") != "end_turn" {
					t.Errorf("message_delta: %s", evs[len(evs)-2].data)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := send(t, ts, http.MethodPost, tt.path, tt.hdr, tt.body)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			evs, err := readEvents(t, resp.Body)
			if !errors.Is(err, io.EOF) {
				t.Fatalf("stream ended with %v", err)
			}
			var text strings.Builder
			deltas := 0
			var names []string
			for _, e := range evs {
				if d, ok := tt.delta(e); ok {
					text.WriteString(d)
					deltas++
					if len(names) > 0 && names[len(names)-1] == e.name {
						continue
					}
				}
				if e.name != "" {
					names = append(names, e.name)
				}
			}
			if text.String() != wantReply || deltas != 4 {
				t.Errorf("deltas: %d, text %q", deltas, text.String())
			}
			if tt.names != nil && strings.Join(names, ",") != strings.Join(tt.names, ",") {
				t.Errorf("events:\n got %v\nwant %v", names, tt.names)
			}
			tt.check(t, evs)
		})
	}
}

func chatDeltaText(e event) (string, bool) {
	if e.data == "[DONE]" {
		return "", false
	}
	var v struct {
		Object  string
		Choices []struct {
			Delta struct{ Content *string }
		}
	}
	json.Unmarshal([]byte(e.data), &v)
	if len(v.Choices) == 0 || v.Choices[0].Delta.Content == nil || *v.Choices[0].Delta.Content == "" {
		return "", false
	}
	return *v.Choices[0].Delta.Content, v.Object == "chat.completion.chunk"
}

// TestStreamFrames checks that every event reaches a real client on its own,
// spaced by the configured delay, rather than in one buffered burst.
func TestStreamFrames(t *testing.T) {
	const delay = 40 * time.Millisecond
	_, ts := start(t, Options{Chunks: 3, ChunkDelay: time.Hour}) // the header must override
	for _, tc := range []struct {
		name, path, body string
		hdr              map[string]string
	}{
		{"chat", "/v1/chat/completions", chatStream, nil},
		{"messages", "/v1/messages", msgStream, anthropicHeaders},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, ts, http.MethodPost, tc.path, merge(tc.hdr, map[string]string{"X-Fake-Delay-Ms": "40"}), tc.body)
			evs, err := readEvents(t, resp.Body)
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			if len(evs) < 5 {
				t.Fatalf("only %d events", len(evs))
			}
			for i := 1; i < len(evs); i++ {
				if gap := evs[i].at - evs[i-1].at; gap < delay*3/4 {
					t.Errorf("event %d arrived %v after event %d, want about %v", i, gap, i-1, delay)
				}
			}
		})
	}
}

func errorShape(t *testing.T, d dialect, m map[string]any, wantType, wantCode string) {
	t.Helper()
	switch d {
	case anthropic:
		if m["type"] != "error" || get(m, "error", "type") != wantType || get(m, "error", "message") == "" || m["request_id"] == nil {
			t.Errorf("anthropic error body: %v", m)
		}
	case azure:
		if get(m, "error", "code") != wantCode || get(m, "error", "message") == nil {
			t.Errorf("azure error body: %v", m)
		}
	default:
		e, _ := m["error"].(map[string]any)
		if e == nil || e["type"] != wantType || e["message"] == "" {
			t.Errorf("openai error body: %v", m)
		}
		if _, ok := e["param"]; !ok {
			t.Errorf("openai error without param: %v", m)
		}
		code, has := e["code"]
		if !has || (wantCode == "" && code != nil) || (wantCode != "" && code != wantCode) {
			t.Errorf("code %v, want %q", code, wantCode)
		}
	}
}

func TestValidation(t *testing.T) {
	_, ts := start(t, Options{Models: []string{"gpt-4o-mini", "claude-sonnet-4-5"}})
	tests := []struct {
		name, path, body string
		hdr              map[string]string
		d                dialect
		status           int
		typ, code, param string
	}{
		{"chat bad json", "/v1/chat/completions", `{"model":`, nil, openAI, 400, "invalid_request_error", "", ""},
		{"chat missing model", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`, nil, openAI, 400, "invalid_request_error", "", ""},
		{"chat missing messages", "/v1/chat/completions", `{"model":"gpt-4o-mini"}`, nil, openAI, 400, "invalid_request_error", "missing_required_parameter", "messages"},
		{"chat empty messages", "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[]}`, nil, openAI, 400, "invalid_request_error", "empty_array", "messages"},
		{"chat bad role", "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"robot","content":"x"}]}`, nil, openAI, 400, "invalid_request_error", "invalid_value", "messages[0].role"},
		{"chat model type", "/v1/chat/completions", `{"model":5,"messages":[]}`, nil, openAI, 400, "invalid_request_error", "invalid_type", "model"},
		{"chat stream_options without stream", "/v1/chat/completions", `{"model":"gpt-4o-mini","stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`, nil, openAI, 400, "invalid_request_error", "", "stream_options"},
		{"chat unknown model", "/v1/chat/completions", `{"model":"gpt-9","messages":[{"role":"user","content":"x"}]}`, nil, openAI, 404, "invalid_request_error", "model_not_found", ""},
		{"azure missing messages", azurePath, `{}`, nil, openAI, 400, "invalid_request_error", "missing_required_parameter", "messages"},
		{"azure unknown deployment", "/openai/deployments/nope/chat/completions?api-version=2024-10-21", `{"messages":[{"role":"user","content":"x"}]}`, nil, azure, 404, "", "DeploymentNotFound", ""},
		{"azure missing api-version", "/openai/deployments/gpt-4o-mini/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`, nil, azure, 404, "", "404", ""},
		{"responses bad json", "/v1/responses", `not json`, nil, openAI, 400, "invalid_request_error", "", ""},
		{"responses missing model", "/v1/responses", `{"input":"x"}`, nil, openAI, 400, "invalid_request_error", "", ""},
		{"responses missing input", "/v1/responses", `{"model":"gpt-4o-mini"}`, nil, openAI, 400, "invalid_request_error", "missing_required_parameter", "input"},
		{"responses bad input", "/v1/responses", `{"model":"gpt-4o-mini","input":42}`, nil, openAI, 400, "invalid_request_error", "invalid_type", "input"},
		{"responses unknown model", "/v1/responses", `{"model":"gpt-9","input":"x"}`, nil, openAI, 404, "invalid_request_error", "model_not_found", ""},
		{"messages bad json", "/v1/messages", `{`, anthropicHeaders, anthropic, 400, "invalid_request_error", "", ""},
		{"messages missing model", "/v1/messages", `{"max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, anthropicHeaders, anthropic, 400, "invalid_request_error", "", ""},
		{"messages missing messages", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":5}`, anthropicHeaders, anthropic, 400, "invalid_request_error", "", ""},
		{"messages missing max_tokens", "/v1/messages", `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"x"}]}`, anthropicHeaders, anthropic, 400, "invalid_request_error", "", ""},
		{"messages bad role", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"system","content":"x"}]}`, anthropicHeaders, anthropic, 400, "invalid_request_error", "", ""},
		{"messages unknown model", "/v1/messages", `{"model":"claude-0","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, anthropicHeaders, anthropic, 404, "not_found_error", "", ""},
		{"messages missing version", "/v1/messages", msgBody, nil, anthropic, 400, "invalid_request_error", "", ""},
		{"unknown path", "/v1/embeddingz", `{}`, nil, openAI, 404, "invalid_request_error", "", ""},
		{"wrong method", "/v1/chat/completions", ``, nil, openAI, 404, "invalid_request_error", "", ""},
		{"no v1 prefix", "/chat/completions", chatBody, nil, openAI, 404, "invalid_request_error", "", ""},
		{"bad fake header", "/v1/chat/completions", chatBody, map[string]string{"X-Fake-Chunks": "0"}, openAI, 400, "invalid_request_error", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := http.MethodPost
			if tt.name == "wrong method" {
				method = http.MethodGet
			}
			resp := send(t, ts, method, tt.path, tt.hdr, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			m := decodeBody(t, resp)
			errorShape(t, tt.d, m, tt.typ, tt.code)
			if tt.param != "" && get(m, "error", "param") != tt.param {
				t.Errorf("param %v, want %q", get(m, "error", "param"), tt.param)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	const key = "sk-test-0123456789"
	_, ts := start(t, Options{APIKey: key})
	bearer := map[string]string{"Authorization": "Bearer " + key}
	tests := []struct {
		name, path, body string
		hdr              map[string]string
		d                dialect
		status           int
		typ, code        string
	}{
		{"openai ok", "/v1/chat/completions", chatBody, bearer, openAI, 200, "", ""},
		{"openai missing", "/v1/chat/completions", chatBody, nil, openAI, 401, "invalid_request_error", ""},
		{"openai wrong", "/v1/chat/completions", chatBody, map[string]string{"Authorization": "Bearer sk-wrong-key-123"}, openAI, 401, "invalid_request_error", "invalid_api_key"},
		{"openai x-api-key is not openai auth", "/v1/responses", respBody, map[string]string{"x-api-key": key}, openAI, 401, "invalid_request_error", ""},
		{"models ok", "/v1/models", "", bearer, openAI, 200, "", ""},
		{"models missing", "/v1/models", "", nil, openAI, 401, "invalid_request_error", ""},
		{"azure ok", azurePath, chatBody, map[string]string{"api-key": key}, azure, 200, "", ""},
		{"azure wrong", azurePath, chatBody, map[string]string{"api-key": "nope"}, azure, 401, "", "401"},
		{"anthropic ok", "/v1/messages", msgBody, map[string]string{"x-api-key": key, "anthropic-version": "2023-06-01"}, anthropic, 200, "", ""},
		{"anthropic missing", "/v1/messages", msgBody, anthropicHeaders, anthropic, 401, "authentication_error", ""},
		{"anthropic wrong", "/v1/messages", msgBody, map[string]string{"x-api-key": "nope", "anthropic-version": "2023-06-01"}, anthropic, 401, "authentication_error", ""},
		{"anthropic bearer is not x-api-key", "/v1/messages", msgBody, merge(bearer, anthropicHeaders), anthropic, 401, "authentication_error", ""},
		{"anthropic without version", "/v1/messages", msgBody, map[string]string{"x-api-key": key}, anthropic, 400, "invalid_request_error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := http.MethodPost
			if tt.path == "/v1/models" {
				method = http.MethodGet
			}
			resp := send(t, ts, method, tt.path, tt.hdr, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			m := decodeBody(t, resp)
			if tt.status != 200 {
				errorShape(t, tt.d, m, tt.typ, tt.code)
				if msg, _ := get(m, "error", "message").(string); strings.Contains(msg, key) || strings.Contains(msg, "sk-wrong-key-123") {
					t.Errorf("error message echoes the key: %q", msg)
				}
			}
		})
	}
}

func TestErrorInjection(t *testing.T) {
	_, ts := start(t, Options{})
	t.Run("status", func(t *testing.T) {
		for _, tc := range []struct {
			fault, path, body string
			hdr               map[string]string
			d                 dialect
			status            int
			typ, code         string
		}{
			{"429", "/v1/chat/completions", chatStream, nil, openAI, 429, "requests", "rate_limit_exceeded"},
			{"429", "/v1/messages", msgStream, anthropicHeaders, anthropic, 429, "rate_limit_error", ""},
			{"429", azurePath, chatBody, nil, azure, 429, "", "429"},
			{"500", "/v1/responses", respBody, nil, openAI, 500, "server_error", ""},
			{"500", "/v1/messages", msgBody, anthropicHeaders, anthropic, 500, "api_error", ""},
			{"400", "/v1/chat/completions", chatBody, nil, openAI, 400, "invalid_request_error", ""},
			{"400", "/v1/messages", msgBody, anthropicHeaders, anthropic, 400, "invalid_request_error", ""},
		} {
			t.Run(tc.fault+tc.path, func(t *testing.T) {
				resp := send(t, ts, http.MethodPost, tc.path, merge(tc.hdr, map[string]string{"X-Fake-Error": tc.fault}), tc.body)
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
				}
				if tc.status == 429 && resp.Header.Get("Retry-After") != "1" {
					t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
				}
				errorShape(t, tc.d, decodeBody(t, resp), tc.typ, tc.code)
			})
		}
	})
	t.Run("garbage", func(t *testing.T) {
		resp := send(t, ts, http.MethodPost, "/v1/chat/completions", map[string]string{"X-Fake-Error": "garbage"}, chatBody)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || json.Valid(b) {
			t.Fatalf("status %d, body %q", resp.StatusCode, b)
		}
	})
	t.Run("hang", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		begin := time.Now()
		resp, err := sendCtx(ctx, ts, http.MethodPost, "/v1/chat/completions", map[string]string{"X-Fake-Error": "hang"}, chatBody)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("hang answered with %d", resp.StatusCode)
		}
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(begin) < 100*time.Millisecond {
			t.Fatalf("err %v after %v", err, time.Since(begin))
		}
	})
	t.Run("slow-headers", func(t *testing.T) {
		begin := time.Now()
		resp := send(t, ts, http.MethodPost, "/v1/chat/completions", map[string]string{"X-Fake-Error": "slow-headers:150"}, chatBody)
		if took := time.Since(begin); took < 150*time.Millisecond {
			t.Errorf("headers after %v", took)
		}
		if resp.StatusCode != 200 || get(decodeBody(t, resp), "choices", 0, "message", "content") != wantReply {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
	t.Run("midstream", func(t *testing.T) {
		for _, tc := range []struct {
			path, body string
			hdr        map[string]string
		}{
			{"/v1/chat/completions", chatStream, nil},
			{azurePath, chatStream, nil},
			{"/v1/responses", respStream, nil},
			{"/v1/messages", msgStream, anthropicHeaders},
		} {
			resp := send(t, ts, http.MethodPost, tc.path, merge(tc.hdr, map[string]string{"X-Fake-Error": "midstream"}), tc.body)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: status %d", tc.path, resp.StatusCode)
			}
			evs, err := readEvents(t, resp.Body)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%s: stream ended with %v after %d events, want unexpected EOF", tc.path, err, len(evs))
			}
			if len(evs) < 2 || len(evs) > 5 {
				t.Errorf("%s: %d events before the abort", tc.path, len(evs))
			}
		}
	})
	t.Run("midstream non-stream", func(t *testing.T) {
		resp := send(t, ts, http.MethodPost, "/v1/chat/completions", map[string]string{"X-Fake-Error": "midstream"}, chatBody)
		b, err := io.ReadAll(resp.Body)
		if !errors.Is(err, io.ErrUnexpectedEOF) || len(b) == 0 || json.Valid(b) {
			t.Errorf("err %v, body %q", err, b)
		}
	})
	t.Run("options", func(t *testing.T) {
		_, ts := start(t, Options{Error: "500"})
		resp := send(t, ts, http.MethodPost, "/v1/chat/completions", nil, chatBody)
		if resp.StatusCode != 500 {
			t.Errorf("Options.Error: status %d", resp.StatusCode)
		}
		resp = send(t, ts, http.MethodPost, "/v1/chat/completions", map[string]string{"X-Fake-Error": "429"}, chatBody)
		if resp.StatusCode != 429 {
			t.Errorf("header over Options.Error: status %d", resp.StatusCode)
		}
	})
	t.Run("bad option panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("New accepted Error: teapot")
			}
		}()
		New(Options{Error: "teapot"})
	})
}

func TestModels(t *testing.T) {
	_, ts := start(t, Options{Models: []string{"gpt-4o-mini", "claude-sonnet-4-5"}})
	m := decodeBody(t, send(t, ts, http.MethodGet, "/v1/models", nil, ""))
	if m["object"] != "list" || get(m, "data", 0, "id") != "gpt-4o-mini" || get(m, "data", 0, "object") != "model" || get(m, "data", 1, "owned_by") != "anthropic" {
		t.Errorf("openai list: %v", m)
	}
	m = decodeBody(t, send(t, ts, http.MethodGet, "/v1/models", anthropicHeaders, ""))
	if get(m, "data", 1, "type") != "model" || m["has_more"] != false || m["last_id"] != "claude-sonnet-4-5" {
		t.Errorf("anthropic list: %v", m)
	}
}

func TestReplyOverrides(t *testing.T) {
	_, ts := start(t, Options{Reply: "fixed"})
	m := decodeBody(t, send(t, ts, http.MethodPost, "/v1/chat/completions", nil, chatBody))
	if get(m, "choices", 0, "message", "content") != "fixed" {
		t.Errorf("Options.Reply: %v", m)
	}
	m = decodeBody(t, send(t, ts, http.MethodPost, "/v1/messages", merge(anthropicHeaders, map[string]string{"X-Fake-Reply": "from header"}), msgBody))
	if get(m, "content", 0, "text") != "from header" || num(get(m, "usage", "output_tokens")) != 3 {
		t.Errorf("X-Fake-Reply: %v", m)
	}
	// The last user message is echoed, not the assistant's or an earlier one.
	_, ts = start(t, Options{})
	body := `{"model":"m","messages":[{"role":"user","content":"first"},{"role":"assistant","content":"reply"},{"role":"user","content":"Call [PERSON_1] at [PHONE_1]"}]}`
	m = decodeBody(t, send(t, ts, http.MethodPost, "/v1/chat/completions", nil, body))
	if get(m, "choices", 0, "message", "content") != "echo: Call [PERSON_1] at [PHONE_1]" {
		t.Errorf("echo: %v", m)
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want []string
	}{
		{"abcdefgh", 3, []string{"abc", "def", "gh"}},
		{"ab", 8, []string{"a", "b"}},
		{"", 4, nil},
		{"äöü€", 2, []string{"äö", "ü€"}},
	} {
		got := split(tc.s, tc.n)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("split(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
	if tokens("abcd") != 1 || tokens("abcde") != 2 || tokens("") != 0 || promptTokens(nil) != 1 {
		t.Error("token rule")
	}
}

func TestRequests(t *testing.T) {
	s, ts := start(t, Options{})
	for i := range RecordLimit + 5 {
		send(t, ts, http.MethodPost, "/v1/chat/completions", map[string]string{"X-Seq": string(rune('a' + i%26))}, chatBody)
	}
	send(t, ts, http.MethodPost, azurePath, map[string]string{"api-key": "k"}, `{"x":1}`)
	got := s.Requests()
	if len(got) != RecordLimit {
		t.Fatalf("%d recorded", len(got))
	}
	if got[0].Header.Get("X-Seq") != string(rune('a'+6)) {
		t.Errorf("oldest kept is %q, want the 7th request", got[0].Header.Get("X-Seq"))
	}
	last := got[len(got)-1]
	if last.Method != http.MethodPost || last.Path != "/openai/deployments/gpt-4o-mini/chat/completions" ||
		last.RawQuery != "api-version=2024-10-21" || last.Header.Get("api-key") != "k" || string(last.Body) != `{"x":1}` {
		t.Errorf("last: %+v", last)
	}
	last.Body[0] = 'X'
	last.Header.Set("api-key", "changed")
	if again := s.Requests(); string(again[len(again)-1].Body) != `{"x":1}` || again[len(again)-1].Header.Get("api-key") != "k" {
		t.Error("Requests returns shared memory")
	}
	s.Reset()
	if len(s.Requests()) != 0 {
		t.Error("Reset kept requests")
	}
}

func BenchmarkChatCompletion(b *testing.B) {
	s := New(Options{})
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(chatBody))
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
