package mcp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bulwarkhq/bulwark"
)

// fakeServer is a scripted upstream MCP connection: it answers initialize,
// tools/list and ping, never answers tools/call of "hang", can flood
// notifications, and can die (its Read fails).
type fakeServer struct {
	in       chan jsonrpc.Message
	done     chan struct{}
	died     chan struct{}
	once     sync.Once
	dieOnce  sync.Once
	wg       sync.WaitGroup
	hangCall chan struct{} // closed when a hanging call arrived
	hangOnce sync.Once
}

func newFakeServer() *fakeServer {
	return &fakeServer{in: make(chan jsonrpc.Message, 64), done: make(chan struct{}), died: make(chan struct{}), hangCall: make(chan struct{})}
}

func (f *fakeServer) push(m jsonrpc.Message) bool {
	select {
	case f.in <- m:
		return true
	case <-f.done:
		return false
	}
}

func (f *fakeServer) answer(id jsonrpc.ID, result string) {
	f.push(&jsonrpc.Response{ID: id, Result: json.RawMessage(result)})
}

func (f *fakeServer) Write(_ context.Context, m jsonrpc.Message) error {
	select {
	case <-f.done:
		return sdk.ErrConnectionClosed
	case <-f.died:
		return errors.New("fake server: broken pipe")
	default:
	}
	req, ok := m.(*jsonrpc.Request)
	if !ok || !req.IsCall() {
		return nil
	}
	switch req.Method {
	case "initialize":
		f.answer(req.ID, `{"protocolVersion":"2025-06-18","capabilities":{"tools":{"listChanged":true},"logging":{}},"serverInfo":{"name":"fake","version":"1"}}`)
	case "tools/list":
		f.answer(req.ID, `{"tools":[{"name":"hang","inputSchema":{"type":"object"}},{"name":"echo","inputSchema":{"type":"object"}}]}`)
	case "tools/call":
		var p struct{ Name string }
		_ = json.Unmarshal(req.Params, &p)
		if p.Name == "hang" {
			f.hangOnce.Do(func() { close(f.hangCall) })
			return nil
		}
		f.answer(req.ID, `{"content":[{"type":"text","text":"ok"}]}`)
	default:
		f.answer(req.ID, `{}`)
	}
	return nil
}

func (f *fakeServer) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case m := <-f.in:
		return m, nil
	case <-f.died:
		return nil, errors.New("fake server: process exited")
	case <-f.done:
		return nil, io.EOF
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *fakeServer) Close() error {
	f.once.Do(func() { close(f.done) })
	return nil
}

func (f *fakeServer) SessionID() string { return "" }

func (f *fakeServer) die() { f.dieOnce.Do(func() { close(f.died) }) }

// flood sends n notifications/message of about size bytes each (n 0: until
// the connection closes) as fast as the relay reads them.
func (f *fakeServer) flood(n, size int) {
	payload, _ := json.Marshal(map[string]any{"level": "info", "data": strings.Repeat("x", size)})
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for i := 0; n == 0 || i < n; i++ {
			if !f.push(&jsonrpc.Request{Method: "notifications/message", Params: payload}) {
				return
			}
		}
	}()
}

// floodDone waits for a flood to be read completely (or the connection to close).
func (f *fakeServer) floodDone(t *testing.T, within time.Duration) {
	t.Helper()
	ch := make(chan struct{})
	go func() { f.wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(within):
		t.Fatalf("the relay did not read the flood within %v", within)
	}
}

// fakeFixture is a Handler whose sessions each get a new fakeServer, sent on
// the returned channel.
func fakeFixture(t *testing.T, hooks *fakeHooks, mod func(*HandlerConfig)) (*Handler, string, chan *fakeServer) {
	t.Helper()
	servers := make(chan *fakeServer, 16)
	c := HandlerConfig{
		Proxy: &bulwark.Proxy{Name: "fake"},
		Auth:  allowAll{},
		Hooks: hooks,
		Upstream: func(context.Context) (sdk.Connection, error) {
			f := newFakeServer()
			servers <- f
			return f, nil
		},
	}
	if mod != nil {
		mod(&c)
	}
	h := NewHandler(c)
	front := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close()
		front.CloseClientConnections()
		front.Close()
		waitSessions(t, h, 0)
	})
	return h, front.URL, servers
}

func waitSessions(t *testing.T, h *Handler, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.Sessions() != n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := h.Sessions(); got != n {
		t.Fatalf("sessions: %d, want %d", got, n)
	}
}

// onlySession returns the relay of the handler's one session.
func onlySession(t *testing.T, h *Handler) *Session {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.sessions {
		return s.relay
	}
	t.Fatal("no session")
	return nil
}

// post sends one message over streamable HTTP and returns the status, the
// session id header and the body.
func post(t *testing.T, url, sid, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer good")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sid != "" {
		req.Header.Set(sessionHeader, sid)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get(sessionHeader), string(b)
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// initialize opens a streamable session by hand and returns its id.
func initialize(t *testing.T, url string) string {
	t.Helper()
	status, sid, body := post(t, url, "", initBody)
	if status != http.StatusOK || sid == "" || !strings.Contains(body, "protocolVersion") {
		t.Fatalf("initialize: %d %q %s", status, sid, body)
	}
	if status, _, body := post(t, url, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); status != http.StatusAccepted {
		t.Fatalf("initialized: %d %s", status, body)
	}
	return sid
}

func wsURL(httpURL string) string { return "ws" + strings.TrimPrefix(httpURL, "http") + "/ws" }

func dialClientWS(t *testing.T, url, key string, protocols ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hdr := http.Header{}
	if key != "" {
		hdr.Set("Authorization", "Bearer "+key)
	}
	return websocket.Dial(ctx, wsURL(url), &websocket.DialOptions{HTTPHeader: hdr, Subprotocols: protocols})
}

// connTransport hands an existing connection to an sdk.Client.
type connTransport struct{ c sdk.Connection }

func (t connTransport) Connect(context.Context) (sdk.Connection, error) { return t.c, nil }

func TestWebSocketClientThroughRelay(t *testing.T) {
	hooks := &fakeHooks{approved: map[string]bool{"echo": true, "read-config": true}}
	h, front := relayFixture(t, hooks)
	// The upstream dialer's WebSocket connection, pointed at the handler.
	d := &Dialer{}
	conn, err := d.Dial(context.Background(), "front", &bulwark.MCPConfig{Transport: bulwark.MCPWebSocket}, wsURL(front), http.Header{"Authorization": {"Bearer good"}})
	if err != nil {
		t.Fatal(err)
	}
	c := sdk.NewClient(&sdk.Implementation{Name: "ws-client", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, connTransport{conn}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lt, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range lt.Tools {
		names = append(names, tl.Name)
	}
	if strings.Join(names, ",") != "echo,read-config" {
		t.Fatalf("tools over WebSocket: %v", names)
	}
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "hi"}})
	if err != nil || res.Content[0].(*sdk.TextContent).Text != "Echo: hi" {
		t.Fatalf("echo: %v %+v", err, res)
	}
	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "read-config"})
	if err != nil || res.Content[0].(*sdk.TextContent).Text != "aws_key=<AWS_KEY_1>" {
		t.Fatalf("read-config: %v %+v", err, res)
	}
	if _, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "get-sum", Arguments: map[string]any{"a": 1}}); err == nil || !strings.Contains(err.Error(), "not approved") {
		t.Fatalf("unapproved tool over WebSocket: %v", err)
	}
	if h.Sessions() != 1 {
		t.Fatalf("sessions %d", h.Sessions())
	}
	h.mu.Lock()
	for _, s := range h.sessions {
		if !s.socket {
			t.Error("not a socket session")
		}
	}
	h.mu.Unlock()
	// Expiry leaves an open socket alone: its lifetime is the session.
	h.Expire(time.Now().Add(24 * time.Hour))
	if h.Sessions() != 1 {
		t.Fatal("an open WebSocket session expired")
	}
	cs.Close()
	waitSessions(t, h, 0)
}

func TestWebSocketClientRefusals(t *testing.T) {
	_, front, _ := fakeFixture(t, &fakeHooks{approved: map[string]bool{}}, func(c *HandlerConfig) { c.MaxMessageBytes = 1024 })
	t.Run("bad key", func(t *testing.T) {
		_, resp, err := dialClientWS(t, front, "bad", "mcp")
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%v %+v", err, resp)
		}
	})
	t.Run("no key", func(t *testing.T) {
		_, resp, err := dialClientWS(t, front, "", "mcp")
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%v %+v", err, resp)
		}
	})
	for _, protos := range [][]string{nil, {"graphql-ws"}} {
		t.Run(fmt.Sprintf("subprotocol %v", protos), func(t *testing.T) {
			_, resp, err := dialClientWS(t, front, "good", protos...)
			if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("%v %+v", err, resp)
			}
		})
	}
	t.Run("not an upgrade", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, front+"/ws", nil)
		req.Header.Set("Authorization", "Bearer good")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUpgradeRequired || !strings.Contains(string(b), `"jsonrpc":"2.0"`) {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	})
	t.Run("batch, garbage, unknown method, oversized", func(t *testing.T) {
		ws, _, err := dialClientWS(t, front, "good", "mcp")
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		roundTrip := func(msg string) string {
			if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			_, data, err := ws.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return string(data)
		}
		if got := roundTrip(`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`); !strings.Contains(got, "-32600") || !strings.Contains(got, "batches") {
			t.Fatalf("batch: %s", got)
		}
		if got := roundTrip(`{"jsonrpc":`); !strings.Contains(got, "-32700") {
			t.Fatalf("garbage: %s", got)
		}
		if got := roundTrip(initBody); !strings.Contains(got, `"id":1`) || !strings.Contains(got, "protocolVersion") {
			t.Fatalf("initialize: %s", got)
		}
		if got := roundTrip(`{"jsonrpc":"2.0","id":"u","method":"tools/frobnicate","params":{}}`); !strings.Contains(got, "-32601") || !strings.Contains(got, `"id":"u"`) {
			t.Fatalf("unknown method: %s", got)
		}
		if got := roundTrip(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"nope"}}`); !strings.Contains(got, fmt.Sprint(CodeToolNotApproved)) {
			t.Fatalf("unknown tool: %s", got)
		}
		big := `{"jsonrpc":"2.0","id":3,"method":"ping","params":{"x":"` + strings.Repeat("a", 2048) + `"}}`
		if err := ws.Write(ctx, websocket.MessageText, []byte(big)); err != nil {
			t.Fatal(err)
		}
		_, _, err = ws.Read(ctx)
		if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
			t.Fatalf("oversized message: %v (status %d)", err, websocket.CloseStatus(err))
		}
	})
}

func TestStreamableUnknownMethodsAndLimits(t *testing.T) {
	h, front, _ := fakeFixture(t, &fakeHooks{approved: map[string]bool{"echo": true}}, func(c *HandlerConfig) { c.MaxMessageBytes = 4096 })
	sid := initialize(t, front)
	for _, tc := range []struct {
		name, body string
		status     int
		want       []string
	}{
		{"unknown method", `{"jsonrpc":"2.0","id":7,"method":"tools/frobnicate"}`, 200, []string{"-32601", `"id":7`, "tools/frobnicate"}},
		{"unknown notification", `{"jsonrpc":"2.0","method":"notifications/frobnicated"}`, 202, nil},
		{"notification with id", `{"jsonrpc":"2.0","id":8,"method":"notifications/initialized"}`, 200, []string{"-32600", `"id":8`}},
		{"request without id", `{"jsonrpc":"2.0","method":"tools/list"}`, 400, []string{"-32600", "needs an id"}},
		{"missing params", `{"jsonrpc":"2.0","id":9,"method":"tools/call"}`, 200, []string{"-32602", `"id":9`}},
		{"unknown tool", `{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"nope","arguments":{}}}`, 200, []string{fmt.Sprint(CodeToolNotApproved), "nope"}},
		{"not JSON-RPC", `{"hello":"world"}`, 400, []string{"-32600"}},
		{"oversized", `{"jsonrpc":"2.0","id":11,"method":"ping","params":{"x":"` + strings.Repeat("a", 5000) + `"}}`, 413, []string{"-32600", "larger than 4096"}},
		{"approved tool", `{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"echo","arguments":{}}}`, 200, []string{`"text":"ok"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := post(t, front, sid, tc.body)
			if status != tc.status {
				t.Fatalf("%d %s", status, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Fatalf("%q not in %s", w, body)
				}
			}
		})
	}
	if h.Sessions() != 1 {
		t.Fatalf("sessions %d", h.Sessions())
	}
}

// TestServerGoneAnswersCallsInFlight: a server that dies while a call is in
// flight gets the client a JSON-RPC error for it, not a hang — over
// streamable HTTP and over WebSocket.
func TestServerGoneAnswersCallsInFlight(t *testing.T) {
	for _, transport := range []string{"streamable", "websocket"} {
		t.Run(transport, func(t *testing.T) {
			hooks := &fakeHooks{approved: map[string]bool{"hang": true}}
			h, front, servers := fakeFixture(t, hooks, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			var tr sdk.Transport
			if transport == "streamable" {
				tr = &sdk.StreamableClientTransport{Endpoint: front, HTTPClient: &http.Client{Transport: bearer{http.DefaultTransport, "good"}}}
			} else {
				conn, err := (&Dialer{}).Dial(ctx, "front", &bulwark.MCPConfig{Transport: bulwark.MCPWebSocket}, wsURL(front), http.Header{"Authorization": {"Bearer good"}})
				if err != nil {
					t.Fatal(err)
				}
				tr = connTransport{conn}
			}
			cs, err := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx, tr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			f := <-servers
			go func() {
				<-f.hangCall
				f.die()
			}()
			start := time.Now()
			_, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "hang", Arguments: map[string]any{}})
			if err == nil || !strings.Contains(err.Error(), serverGoneMessage) {
				t.Fatalf("call in flight when the server died: %v", err)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("the error took %v", time.Since(start))
			}
			waitSessions(t, h, 0)
			hooks.mu.Lock()
			defer hooks.mu.Unlock()
			if len(hooks.calls) != 1 || hooks.calls[0].Verdict != bulwark.VerdictError || hooks.calls[0].Error != serverGoneMessage {
				t.Fatalf("call record: %+v", hooks.calls)
			}
		})
	}
}

// rawGET opens a long-lived GET on url and never reads past the headers
// (or past the first event when firstEvent is set).
func rawGET(t *testing.T, rawURL string, hdr map[string]string, firstEvent bool) (net.Conn, string) {
	t.Helper()
	u, _ := url.Parse(rawURL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// A small receive buffer, so the flood fills it quickly.
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer good\r\nAccept: text/event-stream\r\n", u.RequestURI(), u.Host)
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	if _, err := conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	if !firstEvent {
		return conn, ""
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the SSE stream: %v", err)
		}
		if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
			return conn, data
		}
	}
}

// TestNotificationFloodStreamable: the server floods notifications while
// the client never reads its standalone stream. The relay keeps reading
// (the flood is consumed), holds at most its queue, drops notifications
// (counted), loses the unread stream after the write timeout, and still
// answers the client's calls.
func TestNotificationFloodStreamable(t *testing.T) {
	var mu sync.Mutex
	dropped := map[string]int{}
	h, front, servers := fakeFixture(t, &fakeHooks{approved: map[string]bool{}}, func(c *HandlerConfig) {
		c.WriteTimeout = 300 * time.Millisecond
		c.Dropped = func(method, reason string) { mu.Lock(); dropped[method+"/"+reason]++; mu.Unlock() }
	})
	sid := initialize(t, front)
	f := <-servers
	rawGET(t, front, map[string]string{sessionHeader: sid}, false)
	time.Sleep(100 * time.Millisecond) // the GET is registered as the standalone stream
	f.flood(100_000, 200)
	f.floodDone(t, 60*time.Second)
	s := onlySession(t, h)
	if hw, limit := s.out.highWater(), queueBytes+1024; hw > limit {
		t.Fatalf("the relay held %d bytes for the client (limit %d)", hw, limit)
	}
	if s.Dropped() == 0 || h.DroppedNotifications() != s.Dropped() {
		t.Fatalf("dropped: session %d, handler %d", s.Dropped(), h.DroppedNotifications())
	}
	mu.Lock()
	if dropped["notifications/message/client behind"] == 0 {
		t.Errorf("metric hook: %v", dropped)
	}
	mu.Unlock()
	// The session lives on and answers calls.
	status, _, body := post(t, front, sid, `{"jsonrpc":"2.0","id":99,"method":"ping"}`)
	if status != http.StatusOK || !strings.Contains(body, `"id":99`) {
		t.Fatalf("ping after the flood: %d %s", status, body)
	}
}

// TestNotificationFloodNoStream: without a standalone stream the client
// cannot receive notifications; they are dropped and counted, and the
// session is unharmed.
func TestNotificationFloodNoStream(t *testing.T) {
	h, front, servers := fakeFixture(t, &fakeHooks{approved: map[string]bool{}}, nil)
	sid := initialize(t, front)
	f := <-servers
	f.flood(10_000, 50)
	f.floodDone(t, 30*time.Second)
	status, _, body := post(t, front, sid, `{"jsonrpc":"2.0","id":5,"method":"ping"}`)
	if status != http.StatusOK || !strings.Contains(body, `"id":5`) {
		t.Fatalf("ping: %d %s", status, body)
	}
	if h.DroppedNotifications() == 0 {
		t.Fatal("no notification counted as dropped")
	}
}

// TestNotificationFloodWebSocket: a WebSocket client that never reads loses
// its socket after the write timeout; the relay holds at most its queue.
func TestNotificationFloodWebSocket(t *testing.T) {
	h, front, servers := fakeFixture(t, &fakeHooks{approved: map[string]bool{}}, func(c *HandlerConfig) { c.WriteTimeout = 300 * time.Millisecond })
	ws, _, err := dialClientWS(t, front, "good", "mcp")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	f := <-servers
	waitSessions(t, h, 1)
	s := onlySession(t, h)
	f.flood(0, 200)
	select {
	case <-s.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the session of a client that does not read did not end")
	}
	if hw, limit := s.out.highWater(), queueBytes+1024; hw > limit {
		t.Fatalf("the relay held %d bytes for the client (limit %d)", hw, limit)
	}
	f.floodDone(t, 10*time.Second)
	waitSessions(t, h, 0)
}

// TestLegacySSEClientNeverReads: a legacy SSE client that stops reading its
// stream ends its session after the write timeout, instead of holding the
// relay (and its goroutines) forever.
func TestLegacySSEClientNeverReads(t *testing.T) {
	h, front, servers := fakeFixture(t, &fakeHooks{approved: map[string]bool{}}, func(c *HandlerConfig) { c.WriteTimeout = 300 * time.Millisecond })
	_, endpoint := rawGET(t, front+"/sse", nil, true)
	if !strings.Contains(endpoint, "/message?sessionId=") {
		t.Fatalf("endpoint event: %q", endpoint)
	}
	f := <-servers
	s := onlySession(t, h)
	f.flood(0, 200)
	select {
	case <-s.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the session of an SSE client that does not read did not end")
	}
	if hw, limit := s.out.highWater(), queueBytes+1024; hw > limit {
		t.Fatalf("the relay held %d bytes for the client (limit %d)", hw, limit)
	}
	f.floodDone(t, 10*time.Second)
	waitSessions(t, h, 0)
	// Oversized and unknown messages on the legacy POST are JSON-RPC errors too.
	status, _, body := post(t, front+"/message?sessionId=gone", "", `{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	if status != http.StatusNotFound || !strings.Contains(body, `"jsonrpc":"2.0"`) {
		t.Fatalf("%d %s", status, body)
	}
}

// TestInFlightLimit: calls the server never answers are bounded per session.
func TestInFlightLimit(t *testing.T) {
	old := maxInFlight
	maxInFlight = 3
	defer func() { maxInFlight = old }()
	_, front, _ := fakeFixture(t, &fakeHooks{approved: map[string]bool{"hang": true}}, nil)
	ws, _, err := dialClientWS(t, front, "good", "mcp")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 4 {
		msg := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"hang","arguments":{}}}`, i)
		if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	_, data, err := ws.Read(ctx)
	if err != nil || !strings.Contains(string(data), `"id":3`) || !strings.Contains(string(data), "Too many requests in flight") {
		t.Fatalf("%v %s", err, data)
	}
}
