//go:build unix

package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	bulwark "github.com/bulwarkhq/bulwark"
)

// wsEchoServer is a small MCP-over-WebSocket server: it answers every call
// with {"method": …, "params": …}; the method "big" gets an answer of the
// size in params.size, "binary" a binary message, "silence" stops reading.
type wsEchoServer struct {
	*httptest.Server
	subprotocols []string
	stop         chan struct{} // ends "silence"

	mu          sync.Mutex
	auth        []string
	closeStatus []websocket.StatusCode
	wg          sync.WaitGroup
}

func newWSEchoServer(t *testing.T, subprotocols ...string) *wsEchoServer {
	s := &wsEchoServer{subprotocols: subprotocols, stop: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		close(s.stop)
		s.Close()
		s.wg.Wait()
	})
	return s
}

func (s *wsEchoServer) serve(w http.ResponseWriter, r *http.Request) {
	s.wg.Add(1)
	defer s.wg.Done()
	s.mu.Lock()
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	s.mu.Unlock()
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: s.subprotocols})
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			s.mu.Lock()
			s.closeStatus = append(s.closeStatus, websocket.CloseStatus(err))
			s.mu.Unlock()
			return
		}
		if typ != websocket.MessageText {
			continue
		}
		msg, err := jsonrpc.DecodeMessage(data)
		if err != nil {
			c.Close(websocket.StatusInvalidFramePayloadData, "bad json-rpc")
			return
		}
		req, ok := msg.(*jsonrpc.Request)
		if !ok || !req.IsCall() {
			continue
		}
		switch req.Method {
		case "big":
			var p struct{ Size int }
			_ = json.Unmarshal(req.Params, &p)
			big, _ := json.Marshal(strings.Repeat("x", p.Size))
			s.answer(ctx, c, req, map[string]json.RawMessage{"data": big})
		case "binary":
			c.Write(ctx, websocket.MessageBinary, []byte("{}"))
		case "silence":
			<-s.stop
			return
		case "batch":
			// Two answers in one batch message.
			a, _ := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: req.ID, Result: json.RawMessage(`{"n":1}`)})
			id2, _ := jsonrpc.MakeID("second")
			b, _ := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: id2, Result: json.RawMessage(`{"n":2}`)})
			c.Write(ctx, websocket.MessageText, []byte("["+string(a)+","+string(b)+"]"))
		default:
			s.answer(ctx, c, req, map[string]any{"method": req.Method, "params": req.Params})
		}
	}
}

func (s *wsEchoServer) answer(ctx context.Context, c *websocket.Conn, req *jsonrpc.Request, result any) {
	raw, _ := json.Marshal(result)
	data, _ := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: req.ID, Result: raw})
	c.Write(ctx, websocket.MessageText, data)
}

func (s *wsEchoServer) wsURL() string { return "ws" + strings.TrimPrefix(s.URL, "http") }

func (s *wsEchoServer) statuses() []websocket.StatusCode {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]websocket.StatusCode(nil), s.closeStatus...)
}

var wsConfig = &bulwark.MCPConfig{Transport: bulwark.MCPWebSocket}

func dialWS(t *testing.T, d *Dialer, url string, hdr http.Header) sdk.Connection {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := d.Dial(ctx, "ws", wsConfig, url, hdr)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func TestWebSocketRoundTrip(t *testing.T) {
	srv := newWSEchoServer(t, WebSocketSubprotocol)
	d := &Dialer{HTTPClient: testHTTPClient(t)}
	conn := dialWS(t, d, srv.wsURL(), http.Header{"Authorization": {"Bearer ws-secret"}})
	c := &rpc{t: t, conn: conn}

	var got struct {
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	c.call("tools/list", map[string]any{"cursor": "abc"}, &got)
	if got.Method != "tools/list" || string(got.Params) != `{"cursor":"abc"}` {
		t.Errorf("answer: %+v", got)
	}
	if conn.SessionID() != "" {
		t.Errorf("SessionID %q", conn.SessionID())
	}

	// A Read whose context ends does not break the connection.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	_, err := conn.Read(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Read with an expired context: %v", err)
	}
	c.call("ping", map[string]any{}, &got)

	// A batch message yields its messages one by one.
	var n struct{ N int }
	c.call("batch", map[string]any{}, &n)
	if n.N != 1 {
		t.Errorf("batch: first answer %+v", n)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	msg, err := conn.Read(rctx)
	rcancel()
	if resp, ok := msg.(*jsonrpc.Response); err != nil || !ok || resp.ID.Raw() != "second" {
		t.Errorf("batch: second message %v, %v", msg, err)
	}

	if err := conn.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := conn.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	waitFor(t, func() bool { return len(srv.statuses()) == 1 })
	if st := srv.statuses(); st[0] != websocket.StatusNormalClosure {
		t.Errorf("server saw close status %v, want normal closure", st[0])
	}
	if _, err := conn.Read(context.Background()); err == nil {
		t.Error("Read after Close succeeded")
	}
	if err := conn.Write(context.Background(), &jsonrpc.Request{Method: "x"}); err == nil {
		t.Error("Write after Close succeeded")
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.auth) != 1 || srv.auth[0] != "Bearer ws-secret" {
		t.Errorf("handshake Authorization: %q", srv.auth)
	}
}

func TestWebSocketOversizedMessage(t *testing.T) {
	srv := newWSEchoServer(t, WebSocketSubprotocol)
	d := &Dialer{HTTPClient: testHTTPClient(t), MaxMessageBytes: 4096}
	conn := dialWS(t, d, srv.wsURL(), nil)
	defer conn.Close()
	c := &rpc{t: t, conn: conn}

	var small map[string]string
	c.call("big", map[string]int{"size": 1000}, &small)
	if len(small["data"]) != 1000 {
		t.Fatalf("small answer: %d bytes", len(small["data"]))
	}
	err := c.tryCall("big", map[string]int{"size": 10000}, &small)
	if err == nil {
		t.Fatal("a 10 KB message passed a 4 KB limit")
	}
	t.Logf("oversized: %v", err)
	waitFor(t, func() bool { return len(srv.statuses()) == 1 })
	if st := srv.statuses(); st[0] != websocket.StatusMessageTooBig {
		t.Errorf("server saw close status %v, want %v", st[0], websocket.StatusMessageTooBig)
	}
}

func TestWebSocketBinaryRefused(t *testing.T) {
	srv := newWSEchoServer(t, WebSocketSubprotocol)
	d := &Dialer{HTTPClient: testHTTPClient(t)}
	conn := dialWS(t, d, srv.wsURL(), nil)
	defer conn.Close()
	c := &rpc{t: t, conn: conn}
	var v any
	if err := c.tryCall("binary", map[string]any{}, &v); err == nil || !strings.Contains(err.Error(), "binary") {
		t.Errorf("binary message: %v", err)
	}
}

func TestWebSocketSubprotocolRequired(t *testing.T) {
	srv := newWSEchoServer(t) // no subprotocol
	d := &Dialer{HTTPClient: testHTTPClient(t)}
	_, err := d.Dial(context.Background(), "ws", wsConfig, srv.wsURL(), nil)
	if err == nil || !strings.Contains(err.Error(), "subprotocol") {
		t.Errorf("Dial without the mcp subprotocol: %v", err)
	}
	waitFor(t, func() bool { return len(srv.statuses()) == 1 })
}

func TestWebSocketPingTimeout(t *testing.T) {
	oldInterval, oldTimeout := wsPingInterval, wsPingTimeout
	wsPingInterval, wsPingTimeout = 50*time.Millisecond, 100*time.Millisecond
	defer func() { wsPingInterval, wsPingTimeout = oldInterval, oldTimeout }()

	srv := newWSEchoServer(t, WebSocketSubprotocol)
	d := &Dialer{HTTPClient: testHTTPClient(t)}
	conn := dialWS(t, d, srv.wsURL(), nil)
	defer conn.Close()
	c := &rpc{t: t, conn: conn}

	// While the server reads, pings are answered and the connection lives.
	var v any
	c.call("ping", map[string]any{}, &v)
	time.Sleep(300 * time.Millisecond)
	c.call("ping", map[string]any{}, &v)

	// A server that stops reading stops answering pings: the connection ends.
	err := c.tryCall("silence", map[string]any{}, &v)
	if err == nil {
		t.Fatal("no error from a silent server")
	}
	t.Logf("silent server: %v", err)
}

func TestWebSocketBadURL(t *testing.T) {
	d := &Dialer{}
	for _, u := range []string{"ftp://x/", "ws:///nohost", "::"} {
		if _, err := d.Dial(context.Background(), "ws", wsConfig, u, nil); err == nil {
			t.Errorf("Dial %q succeeded", u)
		}
	}
}

// Configured headers go to the upstream's origin only.
func TestUpstreamHeadersSameOriginOnly(t *testing.T) {
	var got []string
	var mu sync.Mutex
	rt := &upstreamRoundTripper{
		base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			got = append(got, r.URL.Host+" "+r.Header.Get("Authorization")+" "+r.Header.Get("Mcp-Session-Id"))
			mu.Unlock()
			return &http.Response{StatusCode: 204, Body: http.NoBody, Request: r}, nil
		}),
		origin:  "https://mcp.example",
		headers: http.Header{"authorization": {"Bearer s"}, "Mcp-Session-Id": {"forged"}},
	}
	for _, u := range []string{"https://mcp.example/mcp", "https://other.example/mcp", "http://mcp.example/mcp"} {
		req, _ := http.NewRequest(http.MethodPost, u, nil)
		req.Header.Set("Mcp-Session-Id", "real")
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		if req.Header.Get("Authorization") != "" {
			t.Error("RoundTrip changed the caller's request")
		}
	}
	want := []string{"mcp.example Bearer s real", "other.example  real", "mcp.example  real"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d: %q, want %q", i, got[i], want[i])
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
