package mcp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/inspect"
)

// Authenticator resolves the client's gateway key into its key and group
// and checks the group may use the proxy (the access stage of the chain).
type Authenticator interface {
	Request(ctx context.Context, x *inspect.Exchange) error
}

// Upstream opens a connection to the MCP server for one client session.
type Upstream func(ctx context.Context) (sdk.Connection, error)

// HandlerConfig is everything one MCP proxy's handler needs.
type HandlerConfig struct {
	Proxy    *bulwark.Proxy
	Auth     Authenticator
	Upstream Upstream
	Hooks    Hooks
	Log      *slog.Logger
	// MaxMessageBytes bounds one message from a client (default 4 MiB).
	MaxMessageBytes int64
	// IdleTimeout ends a session nobody used for this long (default 30 min).
	IdleTimeout time.Duration
	// MaxSessions bounds concurrent sessions (default 10000).
	MaxSessions int
	// WriteTimeout bounds one write to a client (default 30 s): a client
	// that does not take a message in this time loses the stream it was
	// written to (see "Limits and hostile peers" in docs/mcp.md).
	WriteTimeout time.Duration
	// Dropped, when set, is called for every server notification a session
	// dropped (reason "client behind" or "no client stream"); the gateway
	// counts them in a metric.
	Dropped func(method, reason string)
}

// Handler serves one MCP proxy to clients over streamable HTTP (POST, GET
// and DELETE on the proxy's root or /mcp), WebSocket (/ws, subprotocol
// mcp) and the legacy HTTP+SSE transport (GET /sse, POST /message?session=…).
type Handler struct {
	mu     sync.Mutex
	c      HandlerConfig // guarded by mu: Reconfigure swaps it for new sessions
	events *sdk.MemoryEventStore
	// stateless is the shared upstream session of 2026-07-28 clients.
	stateless *Mux
	sessions  map[string]*downSession
	closed    bool
	dropped   atomic.Int64
}

type downSession struct {
	id        string
	keyID     int64
	streaming *sdk.StreamableServerTransport
	legacy    *sdk.SSEServerTransport
	socket    bool // a WebSocket: the socket's lifetime is the session
	relay     *Session
	lastUsed  time.Time
}

// downConn is the client's side of a new session.
type downConn struct {
	conn      sdk.Connection
	streaming *sdk.StreamableServerTransport
	legacy    *sdk.SSEServerTransport
	socket    bool
}

// DroppedNotifications is the number of server notifications the handler's
// sessions dropped because their clients did not take them.
func (h *Handler) DroppedNotifications() int64 { return h.dropped.Load() }

// NewHandler returns the handler of one MCP proxy.
func NewHandler(c HandlerConfig) *Handler {
	return &Handler{c: withDefaults(c), sessions: map[string]*downSession{}, events: sdk.NewMemoryEventStore(nil)}
}

// Reconfigure applies a changed proxy configuration to new sessions and
// requests; open sessions keep relaying with the hooks and upstream they
// were opened with, so a configuration change does not drop them.
func (h *Handler) Reconfigure(c HandlerConfig) {
	c = withDefaults(c)
	h.mu.Lock()
	h.c = c
	h.closed = false
	old := h.stateless
	h.stateless = nil // the next stateless request dials the new upstream
	h.mu.Unlock()
	if old != nil {
		old.Close()
	}
}

func (h *Handler) cfg() HandlerConfig {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.c
}

func withDefaults(c HandlerConfig) HandlerConfig {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 4 << 20
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Minute
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 10000
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = clientWriteTimeout
	}
	return c
}

const sessionHeader = "Mcp-Session-Id"

// writeRPCError answers with an HTTP status and a JSON-RPC error body (id null).
func writeRPCError(w http.ResponseWriter, status int, code int64, msg string) {
	writeRPCBody(w, status, rpcErrorBody(nil, code, msg))
}

func writeRPCBody(w http.ResponseWriter, status int, body []byte) {
	if body == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// rpcErrorBody is a JSON-RPC error response to id (nil: id null).
func rpcErrorBody(id *jsonrpc.ID, code int64, msg string) []byte {
	var raw any
	if id != nil {
		raw = id.Raw()
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": raw, "error": map[string]any{"code": code, "message": msg}})
	return b
}

func jsonValid(b []byte) bool { return json.Valid(b) }

func credentialOf(r *http.Request) string {
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	if k := r.Header.Get("X-Api-Key"); k != "" {
		return strings.TrimSpace(k)
	}
	return ""
}

// authenticate runs the access stage; on refusal it has answered.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) (*inspect.Exchange, bool) {
	c := h.cfg()
	x := &inspect.Exchange{Proxy: c.Proxy.Name, Protocol: bulwark.ProtocolMCP, Credential: credentialOf(r), Start: time.Now()}
	if err := c.Auth.Request(r.Context(), x); err != nil {
		var b *inspect.Block
		if errors.As(err, &b) {
			if b.Status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="bulwark"`)
			}
			writeRPCError(w, b.Status, -32001, b.Message)
			return nil, false
		}
		c.Log.Error("mcp authentication failed", "err", err)
		writeRPCError(w, http.StatusInternalServerError, CodeGatewayError, "The gateway could not check the credentials.")
		return nil, false
	}
	return x, true
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch path {
	case "", "/mcp":
		h.serveStreamable(w, r)
	case "/sse":
		h.serveLegacyGET(w, r)
	case "/message", "/messages":
		h.serveLegacyPOST(w, r)
	case "/ws":
		h.serveWebSocket(w, r)
	default:
		writeRPCError(w, http.StatusNotFound, -32601, "Not found. MCP clients connect to this proxy's root (streamable HTTP), /ws (WebSocket) or /sse (legacy SSE).")
	}
}

func newSessionID() string { return rand.Text() }

// lookup returns the session id owned by the key of x.
func (h *Handler) lookup(id string, x *inspect.Exchange) *downSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[id]
	if s == nil || x.Key == nil || s.keyID != x.Key.ID {
		return nil
	}
	s.lastUsed = time.Now()
	return s
}

func (h *Handler) serveStreamable(w http.ResponseWriter, r *http.Request) {
	x, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	id := r.Header.Get(sessionHeader)
	switch r.Method {
	case http.MethodPost:
	case http.MethodGet, http.MethodDelete:
		if id == "" {
			writeRPCError(w, http.StatusBadRequest, -32600, r.Method+" needs the Mcp-Session-Id header of an initialized session.")
			return
		}
		s := h.lookup(id, x)
		if s == nil || s.streaming == nil {
			writeRPCError(w, http.StatusNotFound, -32001, "Session not found: initialize a new session.")
			return
		}
		if r.Method == http.MethodDelete {
			h.end(id)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.serveStream(s, w, r)
		return
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		writeRPCError(w, http.StatusMethodNotAllowed, -32600, "MCP streamable HTTP uses POST, GET and DELETE.")
		return
	}
	msg, ok := h.readMessage(w, r)
	if !ok {
		return
	}
	if id != "" {
		s := h.lookup(id, x)
		if s == nil || s.streaming == nil {
			// Unknown (expired, deleted, or from before a restart): the
			// client must re-initialize, as the spec prescribes for 404.
			writeRPCError(w, http.StatusNotFound, -32001, "Session not found: initialize a new session.")
			return
		}
		if answersAlone(r, msg) {
			h.serveAlone(s, w, r, msg)
			return
		}
		h.serveStream(s, w, r)
		return
	}
	if req, isReq := msg.(*jsonrpc.Request); isReq && req.Method != "initialize" {
		// Protocol 2026-07-28 has no sessions: answered one request at a time.
		if version, ok := statelessVersion(r, req.Params); ok {
			h.serveStateless(w, r, x, req, version)
			return
		}
	}
	if req, isReq := msg.(*jsonrpc.Request); !isReq || req.Method != "initialize" {
		writeRPCError(w, http.StatusBadRequest, -32600, "No Mcp-Session-Id: the first request of a session must be initialize.")
		return
	}
	s, err := h.open(r.Context(), x, func(id string) (downConn, error) {
		// The event store lets a client resume a broken stream with
		// Last-Event-ID instead of losing the answers on it.
		t := &sdk.StreamableServerTransport{SessionID: id, EventStore: h.events}
		c, err := t.Connect(context.Background())
		return downConn{conn: c, streaming: t}, err
	})
	if err != nil {
		h.openFailed(w, err)
		return
	}
	h.serveStream(s, w, r)
}

// readMessage reads and checks the one JSON-RPC message of a POST; when it
// returns false it has answered (413, 400, or a JSON-RPC error the gateway
// gives itself). The body is left readable for the transport.
func (h *Handler) readMessage(w http.ResponseWriter, r *http.Request) (jsonrpc.Message, bool) {
	limit := h.cfg().MaxMessageBytes
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeRPCError(w, http.StatusRequestEntityTooLarge, -32600, fmt.Sprintf("Message larger than %d bytes.", limit))
		} else {
			writeRPCError(w, http.StatusBadRequest, -32600, "The body could not be read.")
		}
		return nil, false
	}
	msg, status, reply := checkClientMessage(bytes.TrimSpace(body))
	if msg == nil {
		writeRPCBody(w, status, reply)
		return nil, false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return msg, true
}

// serveStream hands a request to the session's streamable transport with
// every write bounded by the write timeout.
func (h *Handler) serveStream(s *downSession, w http.ResponseWriter, r *http.Request) {
	w, r, cancel := guard(w, r, h.cfg().WriteTimeout)
	defer cancel()
	s.streaming.ServeHTTP(w, r)
}

// answersAlone reports whether a POST on an established session is relayed
// by Session.Call and answered with a plain JSON body (or 202), without the
// go-sdk's streamable server transport in between. That is equivalent: the
// relay puts only the answer on a POST's stream (everything else goes to
// the standalone GET stream), and the spec lets a server answer a request
// with application/json when it has nothing else to send on the stream.
// Everything else keeps the transport: a client that does not accept JSON,
// a resumption (Last-Event-ID), initialize, subscriptions/listen (a
// long-lived stream), and requests of protocol 2026-07-28 and later, which
// the transport refuses on a stateful session.
//
// A session's POSTs all take the same way as long as its client sends the
// same headers, so the messages reach the server in the order the client
// sent them.
func answersAlone(r *http.Request, msg jsonrpc.Message) bool {
	if len(r.Header.Values("Last-Event-ID")) > 0 || r.Header.Get("Mcp-Protocol-Version") >= ProtocolStateless || !acceptsJSON(r.Header) {
		return false
	}
	if req, ok := msg.(*jsonrpc.Request); ok {
		switch req.Method {
		case "initialize", "subscriptions/listen":
			return false
		}
		if bytes.Contains(req.Params, []byte(metaProtocolVersion)) {
			return false
		}
	}
	return true
}

// acceptsJSON reports whether the Accept header names application/json.
func acceptsJSON(h http.Header) bool {
	for _, v := range h.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			mt, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(mt), "application/json") {
				return true
			}
		}
	}
	return false
}

// serveAlone relays one POSTed message with Session.Call and answers it
// with a JSON body, or 202 Accepted for a notification or a response.
func (h *Handler) serveAlone(s *downSession, w http.ResponseWriter, r *http.Request, msg jsonrpc.Message) {
	resp, report, err := s.relay.Call(r.Context(), msg)
	if report != nil {
		defer report() // once the answer is written
	}
	switch {
	case errors.Is(err, errSessionEnded):
		writeRPCError(w, http.StatusNotFound, -32001, "Session not found: initialize a new session.")
		return
	case err != nil:
		return // the client went away
	case resp == nil:
		w.WriteHeader(http.StatusAccepted)
		return
	}
	b, err := encodeMessage(resp)
	if err != nil {
		writeRPCError(w, http.StatusInternalServerError, CodeGatewayError, "The answer could not be encoded.")
		return
	}
	w, _, cancel := guard(w, r, h.cfg().WriteTimeout)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	// With its length declared the answer leaves in one write, not as a
	// chunk followed by the chunked body's end after the bookkeeping.
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
	_ = http.NewResponseController(w).Flush() // the answer goes out before the bookkeeping
}

// errTooManySessions refuses a session beyond MaxSessions.
var errTooManySessions = errors.New("too many sessions")

func (h *Handler) openFailed(w http.ResponseWriter, err error) {
	if errors.Is(err, errTooManySessions) {
		writeRPCError(w, http.StatusServiceUnavailable, -32000, "The gateway has too many open MCP sessions; retry later.")
		return
	}
	c := h.cfg()
	c.Log.Error("mcp upstream unavailable", "proxy", c.Proxy.Name, "err", err)
	writeRPCError(w, http.StatusBadGateway, -32000, "The MCP server could not be reached: "+err.Error())
}

// open dials the upstream and starts the relay of a new session.
func (h *Handler) open(ctx context.Context, x *inspect.Exchange, down func(id string) (downConn, error)) (*downSession, error) {
	h.mu.Lock()
	cfg := h.c
	if h.closed || len(h.sessions) >= cfg.MaxSessions {
		h.mu.Unlock()
		return nil, errTooManySessions
	}
	h.mu.Unlock()
	up, err := cfg.Upstream(ctx)
	if err != nil {
		return nil, err
	}
	id := newSessionID()
	dc, err := down(id)
	if err != nil {
		_ = up.Close()
		return nil, err
	}
	st := dc.streaming
	c := Client{Group: x.Group, Key: x.Key}
	s := &downSession{id: id, streaming: st, legacy: dc.legacy, socket: dc.socket, lastUsed: time.Now(),
		relay: NewSession(id, c, dc.conn, up, cfg.Hooks, cfg.Log.With("proxy", cfg.Proxy.Name, "session", id))}
	s.relay.writeTimeout = cfg.WriteTimeout
	s.relay.onDrop = func(method, reason string) {
		h.dropped.Add(1)
		if cfg.Dropped != nil {
			cfg.Dropped(method, reason)
		}
	}
	if x.Key != nil {
		s.keyID = x.Key.ID
	}
	h.mu.Lock()
	h.sessions[id] = s
	h.mu.Unlock()
	go func() {
		if err := s.relay.Run(context.Background()); err != nil {
			cfg.Log.Warn("mcp session ended with an error", "proxy", cfg.Proxy.Name, "session", id, "err", err)
		}
		h.mu.Lock()
		delete(h.sessions, id)
		h.mu.Unlock()
		if st != nil {
			_ = h.events.SessionClosed(context.Background(), id)
		}
	}()
	return s, nil
}

// end closes a session.
func (h *Handler) end(id string) {
	h.mu.Lock()
	s := h.sessions[id]
	delete(h.sessions, id)
	h.mu.Unlock()
	if s != nil {
		s.relay.Close()
		if s.streaming != nil {
			_ = h.events.SessionClosed(context.Background(), id)
		}
	}
}

// Sessions is the number of open sessions.
func (h *Handler) Sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// Expire ends sessions idle for longer than the idle timeout; the gateway
// calls it periodically.
func (h *Handler) Expire(now time.Time) {
	h.mu.Lock()
	var idle []string
	for id, s := range h.sessions {
		if s.streaming != nil && now.Sub(s.lastUsed) > h.c.IdleTimeout {
			idle = append(idle, id)
		}
	}
	h.mu.Unlock()
	for _, id := range idle {
		h.end(id)
	}
}

// Close ends every session (the proxy stops or is rebuilt).
func (h *Handler) Close() {
	h.mu.Lock()
	h.closed = true
	if h.stateless != nil {
		h.stateless.Close()
		h.stateless = nil
	}
	ids := make([]string, 0, len(h.sessions))
	for id := range h.sessions {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	for _, id := range ids {
		h.end(id)
	}
}

// serveLegacyGET opens a legacy HTTP+SSE session: the GET stays open as the
// server-to-client stream; the client posts to the endpoint it is sent.
func (h *Handler) serveLegacyGET(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeRPCError(w, http.StatusMethodNotAllowed, -32600, "GET /sse opens a legacy SSE session.")
		return
	}
	x, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Connection", "keep-alive")
	base := MountPath(r.Context()) + strings.TrimSuffix(r.URL.Path, "/sse")
	// The stream is the session: a client that stops reading it for the
	// write timeout ends the request, and so the session.
	w, r, cancel := guard(w, r, h.cfg().WriteTimeout)
	defer cancel()
	s, err := h.open(r.Context(), x, func(id string) (downConn, error) {
		t := &sdk.SSEServerTransport{Endpoint: base + "/message?sessionId=" + id, Response: w, MaxRequestBodyBytes: h.cfg().MaxMessageBytes}
		c, err := t.Connect(r.Context())
		return downConn{conn: c, legacy: t}, err
	})
	if err != nil {
		h.openFailed(w, err)
		return
	}
	select {
	case <-r.Context().Done():
	case <-s.relay.Done():
	}
	h.end(s.id)
}

func (h *Handler) serveLegacyPOST(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeRPCError(w, http.StatusMethodNotAllowed, -32600, "POST /message sends a message of a legacy SSE session.")
		return
	}
	x, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	id := r.URL.Query().Get("sessionId")
	s := h.lookup(id, x)
	if s == nil || s.legacy == nil {
		writeRPCError(w, http.StatusNotFound, -32001, "Session not found: open a new one with GET /sse.")
		return
	}
	if _, ok := h.readMessage(w, r); !ok {
		return
	}
	s.legacy.ServeHTTP(w, r)
}

type mountKey struct{}

// WithMountPath records the path prefix the proxy is mounted at (/p/{name})
// so that endpoints sent to clients include it.
func WithMountPath(ctx context.Context, prefix string) context.Context {
	return context.WithValue(ctx, mountKey{}, prefix)
}

// MountPath is the prefix set by WithMountPath, or "".
func MountPath(ctx context.Context) string {
	p, _ := ctx.Value(mountKey{}).(string)
	return p
}
