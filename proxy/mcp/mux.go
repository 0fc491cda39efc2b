package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// Mux shares one upstream connection — one stdio server process — among
// client sessions, for servers configured with one process per proxy.
//
// The gateway initializes the server once and answers each client's
// initialize from that result. Request ids (and progress tokens) are
// rewritten to be unique upstream and mapped back on the way down.
// Server notifications go to every session, except progress, which goes to
// the session whose token it carries. Server-to-client requests (sampling,
// elicitation, roots) cannot be routed to one client and are refused.
// When the server dies, every session ends (clients re-initialize, which
// starts a new process after a backoff).
type Mux struct {
	dial   Upstream
	log    *slog.Logger
	dialMu sync.Mutex // one dial at a time: concurrent first sessions share it

	mu       sync.Mutex
	conn     sdk.Connection
	initRes  json.RawMessage
	sessions map[int64]*muxConn
	routes   map[string]muxRoute // upstream id → session and original id
	tokens   map[string]muxRoute // upstream progress token → session and original token
	seq      int64
	failures int
	nextDial time.Time
	lastErr  error
	closed   bool

	// OnInit is called with the server's initialize result each time the
	// shared connection is (re)established; OnNotify with every server
	// notification. Both must not block. Set them before the first Open.
	OnInit   func(result json.RawMessage)
	OnNotify func(n *jsonrpc.Request)
}

type muxRoute struct {
	session int64
	id      jsonrpc.ID
	token   json.RawMessage
	// wait takes the answer of a Call (session is 0 then).
	wait chan *jsonrpc.Response
}

// NewMux returns a mux dialing the upstream with dial on first use.
func NewMux(dial Upstream, log *slog.Logger) *Mux {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Mux{dial: dial, log: log, sessions: map[int64]*muxConn{}, routes: map[string]muxRoute{}, tokens: map[string]muxRoute{}}
}

// Open returns a connection for one client session over the shared upstream.
func (m *Mux) Open(ctx context.Context) (sdk.Connection, error) {
	if err := m.ensure(ctx); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn == nil {
		return nil, errMuxUnavailable
	}
	m.seq++
	c := &muxConn{m: m, id: m.seq, in: make(chan jsonrpc.Message, 64), done: make(chan struct{})}
	m.sessions[c.id] = c
	return c, nil
}

// ensure dials and initializes the upstream when there is none.
func (m *Mux) ensure(ctx context.Context) error {
	m.dialMu.Lock()
	defer m.dialMu.Unlock()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errors.New("the proxy is stopping")
	}
	if m.conn != nil {
		m.mu.Unlock()
		return nil
	}
	if wait := time.Until(m.nextDial); wait > 0 {
		last := m.lastErr
		m.mu.Unlock()
		if last != nil {
			return fmt.Errorf("%w (retried in %s)", last, wait.Round(time.Millisecond))
		}
		return fmt.Errorf("the MCP server failed; it is restarted in %s", wait.Round(time.Millisecond))
	}
	m.mu.Unlock()
	conn, res, err := m.start(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.failures++
		m.nextDial = time.Now().Add(backoff(m.failures))
		m.lastErr = err
		return err
	}
	if m.conn != nil || m.closed { // lost a race: keep the other one
		_ = conn.Close()
		return nil
	}
	m.conn, m.initRes, m.failures, m.lastErr = conn, res, 0, nil
	go m.readLoop(conn)
	if m.OnInit != nil {
		m.OnInit(res)
	}
	return nil
}

func backoff(failures int) time.Duration {
	d := 200 * time.Millisecond << min(failures-1, 8)
	return min(d, 30*time.Second)
}

// start dials the server and runs the initialize handshake.
func (m *Mux) start(ctx context.Context) (sdk.Connection, json.RawMessage, error) {
	conn, err := m.dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	id, _ := jsonrpc.MakeID("bulwark-init")
	params, _ := json.Marshal(map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "bulwark", "version": "1"}})
	if err := conn.Write(ctx, &jsonrpc.Request{ID: id, Method: "initialize", Params: params}); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	for {
		msg, err := conn.Read(ctx)
		if err != nil {
			_ = conn.Close()
			return nil, nil, fmt.Errorf("initialize: %w", err)
		}
		if r, ok := msg.(*jsonrpc.Response); ok && r.ID == id {
			if r.Error != nil {
				_ = conn.Close()
				return nil, nil, fmt.Errorf("initialize: %w", r.Error)
			}
			if err := conn.Write(ctx, &jsonrpc.Request{Method: "notifications/initialized", Params: json.RawMessage(`{}`)}); err != nil {
				_ = conn.Close()
				return nil, nil, err
			}
			return conn, r.Result, nil
		}
	}
}

// readLoop routes the server's messages to the sessions.
func (m *Mux) readLoop(conn sdk.Connection) {
	for {
		msg, err := conn.Read(context.Background())
		if err != nil {
			m.fail(conn, err)
			return
		}
		m.route(conn, msg)
	}
}

// route delivers one message of the server: an answer to the session or
// call that asked, a notification to its sessions; a request is refused.
func (m *Mux) route(conn sdk.Connection, msg jsonrpc.Message) {
	switch v := msg.(type) {
	case *jsonrpc.Response:
		m.mu.Lock()
		rt, ok := m.routes[idKey(v.ID)]
		delete(m.routes, idKey(v.ID))
		s := m.sessions[rt.session]
		m.mu.Unlock()
		if ok && rt.wait != nil {
			rt.wait <- &jsonrpc.Response{ID: rt.id, Result: v.Result, Error: v.Error} // buffered for the one answer
			return
		}
		if ok && s != nil {
			s.deliver(&jsonrpc.Response{ID: rt.id, Result: v.Result, Error: v.Error})
		}
	case *jsonrpc.Request:
		if v.IsCall() {
			// Nobody to ask: refuse, so the server does not wait forever.
			_ = conn.Write(context.Background(), errorReply(v.ID, jsonrpc.CodeMethodNotFound,
				v.Method+" is not available: the server is shared by several clients through Bulwark", nil))
			return
		}
		m.broadcast(v)
	}
}

// broadcast sends a server notification to its sessions: progress to the
// session whose token it carries, everything else to all.
func (m *Mux) broadcast(n *jsonrpc.Request) {
	if m.OnNotify != nil {
		m.OnNotify(n)
	}
	if n.Method == "notifications/progress" {
		var p map[string]json.RawMessage
		if json.Unmarshal(n.Params, &p) == nil {
			m.mu.Lock()
			rt, ok := m.tokens[string(p["progressToken"])]
			s := m.sessions[rt.session]
			m.mu.Unlock()
			if ok && s != nil {
				p["progressToken"] = rt.token
				b, _ := json.Marshal(p)
				s.deliver(&jsonrpc.Request{Method: n.Method, Params: b})
			}
		}
		return
	}
	m.mu.Lock()
	list := make([]*muxConn, 0, len(m.sessions))
	for _, s := range m.sessions {
		list = append(list, s)
	}
	m.mu.Unlock()
	for _, s := range list {
		s.deliver(n)
	}
}

// fail ends every session of a dead upstream connection.
func (m *Mux) fail(conn sdk.Connection, err error) {
	m.mu.Lock()
	if m.conn != conn {
		m.mu.Unlock()
		return
	}
	m.conn = nil
	m.failures++
	m.nextDial = time.Now().Add(backoff(m.failures))
	sessions := m.sessions
	m.sessions = map[int64]*muxConn{}
	for _, rt := range m.routes {
		if rt.wait != nil { // a Call in flight: answered like a session's call
			rt.wait <- errorReply(rt.id, CodeServerGone, serverGoneMessage, nil)
		}
	}
	m.routes, m.tokens = map[string]muxRoute{}, map[string]muxRoute{}
	closed := m.closed
	m.mu.Unlock()
	_ = conn.Close()
	if !closed {
		m.log.Warn("shared MCP server connection ended; its sessions end too", "err", err)
	}
	for _, s := range sessions {
		s.end()
	}
}

// Close ends the shared connection and every session.
func (m *Mux) Close() {
	m.mu.Lock()
	m.closed = true
	conn := m.conn
	m.mu.Unlock()
	if conn != nil {
		m.fail(conn, io.EOF)
	}
}

func idKey(id jsonrpc.ID) string {
	b, _ := json.Marshal(id.Raw())
	return string(b)
}

// send writes a session's message upstream with its id and progress token
// made unique.
func (m *Mux) send(ctx context.Context, s *muxConn, msg jsonrpc.Message) error {
	m.mu.Lock()
	conn := m.conn
	m.mu.Unlock()
	if conn == nil {
		return sdk.ErrConnectionClosed
	}
	switch v := msg.(type) {
	case *jsonrpc.Request:
		if !v.IsCall() {
			if v.Method == "notifications/initialized" {
				return nil // the gateway initialized the shared server itself
			}
			if v.Method == "notifications/cancelled" {
				v = m.rewriteCancel(s, v)
				if v == nil {
					return nil
				}
			}
			return conn.Write(ctx, v)
		}
		if v.Method == "initialize" {
			m.mu.Lock()
			res := m.initRes
			m.mu.Unlock()
			s.deliver(&jsonrpc.Response{ID: v.ID, Result: res})
			return nil
		}
		up, _ := jsonrpc.MakeID("s" + strconv.FormatInt(s.id, 10) + ":" + idKey(v.ID))
		params, _ := m.rewriteToken("s", s.id, v.Params)
		m.mu.Lock()
		m.routes[idKey(up)] = muxRoute{session: s.id, id: v.ID}
		m.mu.Unlock()
		return conn.Write(ctx, &jsonrpc.Request{ID: up, Method: v.Method, Params: params})
	case *jsonrpc.Response:
		return nil // answers to server requests: none are routed to clients
	}
	return nil
}

// rewriteToken makes params._meta.progressToken unique (prefix and owner
// make it so) and remembers it under the key it returns ("" when params
// carry no token).
func (m *Mux) rewriteToken(prefix string, owner int64, params json.RawMessage) (json.RawMessage, string) {
	// Spare the decoding of every request: the key is spelled either as
	// such or with a \u escape.
	if !bytes.Contains(params, []byte(`progressToken`)) && !bytes.Contains(params, []byte(`\u`)) {
		return params, ""
	}
	var p map[string]json.RawMessage
	if json.Unmarshal(params, &p) != nil || p["_meta"] == nil {
		return params, ""
	}
	var meta map[string]json.RawMessage
	if json.Unmarshal(p["_meta"], &meta) != nil || meta["progressToken"] == nil {
		return params, ""
	}
	orig := meta["progressToken"]
	tok, _ := json.Marshal(prefix + strconv.FormatInt(owner, 10) + ":" + string(orig))
	meta["progressToken"] = tok
	p["_meta"], _ = json.Marshal(meta)
	b, err := json.Marshal(p)
	if err != nil {
		return params, ""
	}
	m.mu.Lock()
	m.tokens[string(tok)] = muxRoute{session: owner, token: orig}
	m.mu.Unlock()
	return b, string(tok)
}

// errMuxUnavailable is why a session or call cannot use the shared connection.
var errMuxUnavailable = errors.New("the shared MCP server connection is not available")

// Call sends one request over the shared connection and returns the
// server's answer, in the caller's goroutine: the stateless requests of
// protocol 2026-07-28 need no session of their own. The request id (and a
// progress token) are made unique upstream and the answer carries the
// original id. When the connection fails the answer is a CodeServerGone
// error, as for a session's call. The error is the dial's, the write's
// (errWrite wraps it), or ctx's.
func (m *Mux) Call(ctx context.Context, req *jsonrpc.Request) (*jsonrpc.Response, error) {
	if err := m.ensure(ctx); err != nil {
		return nil, err
	}
	m.mu.Lock()
	conn := m.conn
	if conn == nil {
		m.mu.Unlock()
		return nil, errMuxUnavailable
	}
	m.seq++
	n := m.seq
	m.mu.Unlock()
	up, _ := jsonrpc.MakeID("c" + strconv.FormatInt(n, 10) + ":" + idKey(req.ID))
	upKey := idKey(up)
	params, tok := m.rewriteToken("c", n, req.Params)
	wait := make(chan *jsonrpc.Response, 1)
	m.mu.Lock()
	m.routes[upKey] = muxRoute{id: req.ID, wait: wait}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.routes, upKey)
		if tok != "" {
			delete(m.tokens, tok)
		}
		m.mu.Unlock()
	}()
	fwd := &jsonrpc.Request{ID: up, Method: req.Method, Params: params}
	if hc, ok := conn.(*httpConn); ok && hc.canPost() {
		return m.post(ctx, conn, hc, fwd, req.ID, wait)
	}
	if err := conn.Write(ctx, fwd); err != nil {
		return nil, &writeError{err}
	}
	select {
	case r := <-wait:
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// post sends a call to a streamable HTTP server itself (see
// httpConn.call). A failure is what it would be through the go-sdk's
// connection: a request not delivered is a *writeError; a broken stream
// ends the shared connection (its calls are answered with CodeServerGone);
// a stream that ended without the answer fails this call only.
func (m *Mux) post(ctx context.Context, conn sdk.Connection, hc *httpConn, fwd *jsonrpc.Request, id jsonrpc.ID, wait chan *jsonrpc.Response) (*jsonrpc.Response, error) {
	resp, err := hc.call(ctx, fwd, func(msg jsonrpc.Message) { m.route(conn, msg) })
	if err == nil {
		return &jsonrpc.Response{ID: id, Result: resp.Result, Error: resp.Error}, nil
	}
	var de *directError
	if !errors.As(err, &de) || !de.delivered {
		if de != nil && de.broken {
			m.fail(conn, err)
		}
		return nil, &writeError{err}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if de.broken {
		m.fail(conn, err)
	} else {
		m.log.Warn("mcp call failed", "method", fwd.Method, "err", err)
	}
	select {
	case r := <-wait: // fail answered it
		return r, nil
	default:
		return errorReply(id, CodeServerGone, serverGoneMessage, nil), nil
	}
}

// writeError is a failed write to the server.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// Ready dials and initializes the shared connection if there is none.
func (m *Mux) Ready(ctx context.Context) error {
	if err := m.ensure(ctx); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn == nil {
		return errMuxUnavailable
	}
	return nil
}

// rewriteCancel maps the request id a client cancels to the upstream id.
func (m *Mux) rewriteCancel(s *muxConn, n *jsonrpc.Request) *jsonrpc.Request {
	var p map[string]json.RawMessage
	if json.Unmarshal(n.Params, &p) != nil {
		return nil
	}
	var orig any
	if json.Unmarshal(p["requestId"], &orig) != nil {
		return nil
	}
	oid, err := jsonrpc.MakeID(orig)
	if err != nil {
		return nil
	}
	up, _ := json.Marshal("s" + strconv.FormatInt(s.id, 10) + ":" + idKey(oid))
	p["requestId"] = up
	b, _ := json.Marshal(p)
	return &jsonrpc.Request{Method: n.Method, Params: b}
}

// Sessions is the number of client sessions sharing the server.
func (m *Mux) Sessions() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}

// muxConn is one client session's view of the shared upstream.
type muxConn struct {
	m    *Mux
	id   int64
	in   chan jsonrpc.Message
	once sync.Once
	done chan struct{}
}

// deliver queues a message for the session; a session that does not keep
// up loses notifications (never responses, which wait).
func (c *muxConn) deliver(msg jsonrpc.Message) {
	if _, isResp := msg.(*jsonrpc.Response); isResp {
		select {
		case c.in <- msg:
		case <-c.done:
		}
		return
	}
	select {
	case c.in <- msg:
	case <-c.done:
	default:
		c.m.log.Warn("mcp session not reading: notification dropped", "session", c.id)
	}
}

func (c *muxConn) end() { c.once.Do(func() { close(c.done) }) }

func (c *muxConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case msg := <-c.in:
		return msg, nil
	case <-c.done:
		return nil, io.EOF
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *muxConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	select {
	case <-c.done:
		return sdk.ErrConnectionClosed
	default:
	}
	return c.m.send(ctx, c, msg)
}

func (c *muxConn) Close() error {
	c.end()
	c.m.mu.Lock()
	delete(c.m.sessions, c.id)
	for k, r := range c.m.routes {
		if r.session == c.id {
			delete(c.m.routes, k)
		}
	}
	for k, r := range c.m.tokens {
		if r.session == c.id {
			delete(c.m.tokens, k)
		}
	}
	c.m.mu.Unlock()
	return nil
}

func (c *muxConn) SessionID() string { return "" }
