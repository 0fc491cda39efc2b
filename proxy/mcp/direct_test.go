package mcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bulwarkhq/bulwark"
)

// directConn dials a streamable HTTP connection to a scripted server.
func directConn(t *testing.T, h http.HandlerFunc) *httpConn {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := (&Dialer{MaxMessageBytes: 4096}).Dial(context.Background(), "direct", &bulwark.MCPConfig{Transport: bulwark.MCPStreamableHTTP}, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	hc := c.(*httpConn)
	if !hc.canPost() {
		t.Fatal("a streamable HTTP connection cannot post calls")
	}
	return hc
}

func sseEvent(id, data string) string {
	var b strings.Builder
	if id != "" {
		fmt.Fprintf(&b, "id: %s\n", id)
	}
	fmt.Fprintf(&b, "data: %s\n\n", data)
	return b.String()
}

const (
	answerJSON = `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"ok"}]}}`
	progress   = `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p","progress":1}}`
)

// TestDirectCall: a call posted by the relay gets its answer whatever
// way the server sends it, the other messages of its stream are relayed in
// order, and failures are classified as the go-sdk's connection would.
func TestDirectCall(t *testing.T) {
	defer func(d time.Duration) { directRetryDelay = d }(directRetryDelay)
	directRetryDelay = time.Millisecond
	for _, tc := range []struct {
		name string
		// serve answers the n-th request (0: the POST).
		serve                func(n int, w http.ResponseWriter, r *http.Request)
		wantOther            int
		wantErr              error
		delivered, broken    bool
		wantRequests         int
		wantLastEventIDAfter string
	}{
		{name: "json", serve: func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, answerJSON)
		}, wantRequests: 1},
		{name: "sse with a notification first", serve: func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, sseEvent("", progress)+sseEvent("", answerJSON))
		}, wantOther: 1, wantRequests: 1},
		{name: "sse resumed after a break", serve: func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			if n == 0 {
				io.WriteString(w, "id: s_0\ndata: \n\n"+sseEvent("s_1", progress)) // priming event, then the stream breaks
				return
			}
			if r.Method != http.MethodGet || r.Header.Get("Last-Event-ID") != "s_1" {
				http.Error(w, "bad resumption", http.StatusBadRequest)
				return
			}
			io.WriteString(w, sseEvent("s_2", answerJSON))
		}, wantOther: 1, wantRequests: 2},
		{name: "sse ended without answer nor id", serve: func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, sseEvent("", progress))
		}, wantOther: 1, wantErr: errNoAnswer, delivered: true, wantRequests: 1},
		{name: "resumption without progress gives up", serve: func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "id: s_0\ndata: \n\n")
		}, delivered: true, broken: true, wantRequests: 2 + directRetries},
		{name: "malformed event", serve: func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, sseEvent("", "not json"))
		}, wantErr: errMalformedStream, delivered: true, broken: true, wantRequests: 1},
		{name: "event over the bound", serve: func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, sseEvent("", `"`+strings.Repeat("x", 5000)+`"`))
		}, wantErr: errMalformedStream, delivered: true, broken: true, wantRequests: 1},
		{name: "json over the bound", serve: func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"x":"`+strings.Repeat("x", 5000)+`"}}`)
		}, delivered: true, broken: true, wantRequests: 1},
		{name: "unsupported content type", serve: func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "hello")
		}, delivered: true, broken: true, wantRequests: 1},
		{name: "transient status", serve: func(_ int, w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}, wantRequests: 1},
		{name: "JSON-RPC error body", serve: func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad params"}}`)
		}, wantRequests: 1},
		{name: "other status", serve: func(_ int, w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "no", http.StatusInternalServerError)
		}, broken: true, wantRequests: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			hc := directConn(t, func(w http.ResponseWriter, r *http.Request) {
				tc.serve(int(n.Add(1)-1), w, r)
			})
			id, _ := jsonrpc.MakeID(float64(1))
			var other int
			resp, err := hc.call(context.Background(), &jsonrpc.Request{ID: id, Method: "tools/call", Params: []byte(`{"name":"echo"}`)},
				func(m jsonrpc.Message) {
					if r, ok := m.(*jsonrpc.Request); !ok || r.Method != "notifications/progress" {
						t.Errorf("other message: %+v", m)
					}
					other++
				})
			if got := int(n.Load()); got != tc.wantRequests {
				t.Errorf("%d requests to the server, want %d", got, tc.wantRequests)
			}
			if other != tc.wantOther {
				t.Errorf("%d other messages, want %d", other, tc.wantOther)
			}
			fails := tc.wantErr != nil || tc.delivered || tc.broken || strings.Contains(tc.name, "status") || strings.Contains(tc.name, "error body")
			if !fails {
				if err != nil || resp == nil || resp.ID != id || !strings.Contains(string(resp.Result), `"ok"`) {
					t.Fatalf("answer %+v, error %v", resp, err)
				}
				return
			}
			var de *directError
			if !errors.As(err, &de) {
				t.Fatalf("error %v, want a directError", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if de.delivered != tc.delivered || de.broken != tc.broken {
				t.Errorf("delivered %v broken %v, want %v %v (%v)", de.delivered, de.broken, tc.delivered, tc.broken, err)
			}
		})
	}
}

// TestDirectCallHeaders: the relay's POST carries what the go-sdk's would:
// content negotiation, the session id, the negotiated protocol version and
// the configured upstream headers.
func TestDirectCallHeaders(t *testing.T) {
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answerJSON)
	}))
	defer srv.Close()
	c, err := (&Dialer{}).Dial(context.Background(), "direct", &bulwark.MCPConfig{Transport: bulwark.MCPStreamableHTTP}, srv.URL,
		http.Header{"Authorization": {"Bearer upstream"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hc := c.(*httpConn)
	v := "2025-11-25"
	hc.rt.protocolVersion.Store(&v)
	id, _ := jsonrpc.MakeID(float64(1))
	if _, err := hc.call(context.Background(), &jsonrpc.Request{ID: id, Method: "tools/call", Params: []byte(`{}`)}, nil); err != nil {
		t.Fatal(err)
	}
	h := <-got
	for k, want := range map[string]string{"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
		"Mcp-Protocol-Version": v, "Authorization": "Bearer upstream"} {
		if h.Get(k) != want {
			t.Errorf("%s: %q, want %q", k, h.Get(k), want)
		}
	}
	// A protocol that needs per-request headers goes through the go-sdk.
	v2 := ProtocolStateless
	hc.rt.protocolVersion.Store(&v2)
	if hc.canPost() {
		t.Error("posting calls of protocol 2026-07-28 directly")
	}
}

// scriptedServer is a streamable HTTP MCP server whose tools/call answers
// depend on the tool: "echo" answers, "noanswer" ends its stream without
// an answer, "broken" fails with HTTP 500.
func scriptedServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		body, _ := io.ReadAll(r.Body)
		msg, err := jsonrpc.DecodeMessage(body)
		req, ok := msg.(*jsonrpc.Request)
		if err != nil || !ok {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		if !req.IsCall() {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		reply := func(result string) {
			b, _ := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: req.ID, Result: []byte(result)})
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set(sessionHeader, "S")
			w.Write(b)
		}
		switch {
		case req.Method == "initialize":
			reply(`{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"scripted","version":"1"}}`)
		case req.Method == "tools/list":
			reply(`{"tools":[{"name":"echo","inputSchema":{"type":"object"}}]}`)
		case strings.Contains(string(req.Params), `"noanswer"`):
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, sseEvent("", progress))
		case strings.Contains(string(req.Params), `"broken"`):
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			reply(`{"content":[{"type":"text","text":"ok"}]}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func scriptedRelay(t *testing.T) (*Handler, string) {
	t.Helper()
	up := scriptedServer(t)
	h := NewHandler(HandlerConfig{
		Proxy: &bulwark.Proxy{Name: "scripted"},
		Auth:  allowAll{},
		Hooks: &fakeHooks{approved: map[string]bool{"echo": true, "noanswer": true, "broken": true}},
		Upstream: func(ctx context.Context) (sdk.Connection, error) {
			return (&Dialer{}).Dial(ctx, "scripted", &bulwark.MCPConfig{Transport: bulwark.MCPStreamableHTTP}, up, nil)
		},
	})
	front := httptest.NewServer(h)
	t.Cleanup(func() { h.Close(); front.Close() })
	return h, front.URL
}

// TestDirectCallFailures: a call whose stream ends without an answer is
// answered with -32000 and the session goes on; a server that fails a call
// with HTTP 500 ends the session (as a failed write of the go-sdk's
// connection does), and the client is told to initialize again.
func TestDirectCallFailures(t *testing.T) {
	h, url := scriptedRelay(t)
	sid := initialize(t, url)
	call := func(id int, tool string) (int, string) {
		status, _, body := post(t, url, sid, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":{}}}`, id, tool))
		return status, body
	}
	if status, body := call(1, "echo"); status != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("echo: %d %s", status, body)
	}
	if status, body := call(2, "noanswer"); status != 200 || !strings.Contains(body, `-32000`) || !strings.Contains(body, `"id":2`) {
		t.Fatalf("noanswer: %d %s", status, body)
	}
	if status, body := call(3, "echo"); status != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("echo after noanswer: %d %s", status, body)
	}
	if status, body := call(4, "broken"); status != 200 || !strings.Contains(body, `-32000`) {
		t.Fatalf("broken: %d %s", status, body)
	}
	waitFor(t, func() bool { return h.Sessions() == 0 })
	if status, body := call(5, "echo"); status != http.StatusNotFound {
		t.Fatalf("after the session ended: %d %s", status, body)
	}
}

// TestDirectCallFailuresStateless: the same through the shared upstream
// session of stateless clients: a call without an answer fails alone; a
// broken connection ends, and is dialed again after the mux's backoff.
func TestDirectCallFailuresStateless(t *testing.T) {
	_, url := scriptedRelay(t)
	call := func(id int, tool string) (int, string) {
		status, out := statelessPost(t, url, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":{},`+meta+`}}`, id, tool), nil)
		return status, toJSON(out)
	}
	for i, step := range []struct{ tool, want string }{
		{"echo", `"ok"`}, {"noanswer", `-32000`}, {"echo", `"ok"`}, {"broken", `-32000`},
	} {
		if status, body := call(i+1, step.tool); status != 200 || !strings.Contains(body, step.want) {
			t.Fatalf("%s: %d %s", step.tool, status, body)
		}
	}
	if status, body := call(5, "echo"); status != http.StatusBadGateway || !strings.Contains(body, "restarted in") {
		t.Fatalf("right after the failure: %d %s", status, body)
	}
	waitFor(t, func() bool { status, body := call(6, "echo"); return status == 200 && strings.Contains(body, `"ok"`) })
}
