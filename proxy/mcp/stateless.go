package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/bulwarkhq/bulwark/inspect"
)

// Protocol revision 2026-07-28 is stateless: no initialize handshake, no
// Mcp-Session-Id; every request carries its protocol version in
// params._meta and the MCP-Protocol-Version header, and server/discover
// replaces initialize for learning the server's capabilities. The relay
// serves such clients from one upstream session per proxy, initialized by
// the gateway itself (a Mux), so the MCP server behind may speak any
// earlier revision.

// ProtocolStateless is the first stateless protocol revision.
const ProtocolStateless = "2026-07-28"

const (
	metaProtocolVersion = "io.modelcontextprotocol/protocolVersion"
	statelessTimeout    = 5 * time.Minute
)

// statelessVersion returns the protocol version a session-less POST asks
// for: the per-request _meta version in params, or the header. ok is false
// for a legacy request (which must start with initialize).
func statelessVersion(r *http.Request, params json.RawMessage) (version string, ok bool) {
	if p, err := members(params); err == nil && p["_meta"] != nil {
		if meta, err := members(p["_meta"]); err == nil && meta[metaProtocolVersion] != nil {
			_ = json.Unmarshal(meta[metaProtocolVersion], &version)
		}
	}
	if version == "" {
		version = r.Header.Get("Mcp-Protocol-Version")
	}
	return version, version >= ProtocolStateless
}

// statelessMux returns the proxy's shared upstream session for stateless
// clients, created on first use.
func (h *Handler) statelessMux() *Mux {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stateless == nil {
		m := NewMux(h.c.Upstream, h.c.Log)
		c := h.c
		// Without sessions, nothing else would look at the server's
		// instructions or learn about a changed tool list.
		m.OnInit = func(res json.RawMessage) {
			var ir struct {
				Instructions string `json:"instructions"`
			}
			if json.Unmarshal(res, &ir) == nil && ir.Instructions != "" {
				go c.Hooks.Instructions(context.Background(), ir.Instructions)
			}
		}
		m.OnNotify = func(n *jsonrpc.Request) {
			if n.Method == "notifications/tools/list_changed" {
				go h.statelessRelist(m)
			}
		}
		h.stateless = m
	}
	return h.stateless
}

// serveStateless answers one session-less request of protocol 2026-07-28.
// It is judged like a session's request (approval, policies, records) and
// relayed over the proxy's shared upstream session by Mux.Call, all in this
// goroutine: no session loop, queue or goroutine of its own.
func (h *Handler) serveStateless(w http.ResponseWriter, r *http.Request, x *inspect.Exchange, req *jsonrpc.Request, version string) {
	if hv := r.Header.Get("Mcp-Protocol-Version"); hv != version {
		writeRPCError(w, http.StatusBadRequest, -32600, "The MCP-Protocol-Version header must be present and equal params._meta[\""+metaProtocolVersion+"\"].")
		return
	}
	if hm := r.Header.Get("Mcp-Method"); hm != "" && hm != req.Method {
		writeRPCError(w, http.StatusBadRequest, -32600, "The Mcp-Method header does not match the method of the body.")
		return
	}
	if !req.IsCall() {
		w.WriteHeader(http.StatusAccepted) // nothing to relay without a session
		return
	}
	mux := h.statelessMux()
	ctx, cancel := context.WithTimeout(r.Context(), statelessTimeout)
	defer cancel()
	if err := mux.Ready(ctx); err != nil {
		h.openFailed(w, err)
		return
	}
	var resp *jsonrpc.Response
	if req.Method == "server/discover" {
		resp = discoverResult(req.ID, mux)
	} else {
		req.Params = stripProtocolMeta(req.Params)
		c := h.cfg()
		sess := newCallSession("stateless-"+newSessionID(), Client{Group: x.Group, Key: x.Key}, c.Hooks, c.Log)
		// The call is reported once the answer is written.
		var held []*Call
		sess.report = func(call *Call) { held = append(held, call) }
		defer func() {
			for _, call := range held {
				c.Hooks.Done(call)
			}
		}()
		fwd, reply := sess.request(ctx, req, nil)
		resp = reply
		if resp == nil {
			up, err := mux.Call(ctx, fwd)
			var we *writeError
			switch {
			case errors.As(err, &we):
				// As a session's relay does when it cannot write to the server.
				c.Log.Warn("mcp server connection failed; answering the calls in flight", "calls", 1, "err", err)
				up = errorReply(fwd.ID, CodeServerGone, serverGoneMessage, nil)
			case err != nil && ctx.Err() != nil:
				writeRPCError(w, http.StatusGatewayTimeout, -32000, "The MCP server did not answer in time.")
				return
			case err != nil:
				h.openFailed(w, err)
				return
			}
			resp, _ = sess.response(ctx, up)
		}
	}
	if resp.Error == nil {
		resp.Result = withResultType(resp.Result)
	}
	b, err := encodeMessage(resp)
	if err != nil {
		writeRPCError(w, http.StatusInternalServerError, CodeGatewayError, "The answer could not be encoded.")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
	_ = http.NewResponseController(w).Flush() // the answer goes out before the bookkeeping
}

// discoverResult answers server/discover from the shared session's
// initialize result.
func discoverResult(id jsonrpc.ID, m *Mux) *jsonrpc.Response {
	m.mu.Lock()
	initRes := m.initRes
	m.mu.Unlock()
	var ir struct {
		Capabilities json.RawMessage `json:"capabilities"`
		ServerInfo   json.RawMessage `json:"serverInfo"`
		Instructions string          `json:"instructions,omitempty"`
	}
	_ = json.Unmarshal(initRes, &ir)
	out := map[string]any{
		"resultType":        "complete",
		"supportedVersions": []string{ProtocolStateless},
		"capabilities":      ir.Capabilities,
		"serverInfo":        ir.ServerInfo,
	}
	if ir.Instructions != "" {
		out["instructions"] = ir.Instructions
	}
	b, _ := json.Marshal(out)
	return &jsonrpc.Response{ID: id, Result: b}
}

// withResultType adds resultType "complete" to a result object that lacks
// it (revision 2026-07-28 marks every result; earlier servers do not).
func withResultType(res json.RawMessage) json.RawMessage {
	t := bytes.TrimSpace(res)
	if len(t) < 2 || t[0] != '{' || bytes.Contains(t, []byte(`"resultType"`)) {
		return res
	}
	if bytes.Equal(t, []byte("{}")) {
		return json.RawMessage(`{"resultType":"complete"}`)
	}
	out := make([]byte, 0, len(t)+26)
	out = append(out, `{"resultType":"complete",`...)
	return append(out, t[1:]...)
}

// oneShot is the client side of one stateless request: it yields the
// request once and captures the answer.
type oneShot struct {
	msg  jsonrpc.Message
	sent bool
	resp chan jsonrpc.Message
	done chan struct{}
	once sync.Once
	mu   sync.Mutex
}

func newOneShot(msg jsonrpc.Message) *oneShot {
	return &oneShot{msg: msg, resp: make(chan jsonrpc.Message, 1), done: make(chan struct{})}
}

func (o *oneShot) Read(ctx context.Context) (jsonrpc.Message, error) {
	o.mu.Lock()
	if !o.sent {
		o.sent = true
		o.mu.Unlock()
		return o.msg, nil
	}
	o.mu.Unlock()
	select {
	case <-o.done:
		return nil, errOneShotDone
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Write keeps the answer to the request; other messages (notifications the
// server sends meanwhile) have no stream to go to in this mode.
func (o *oneShot) Write(_ context.Context, msg jsonrpc.Message) error {
	if r, ok := msg.(*jsonrpc.Response); ok {
		select {
		case o.resp <- r:
		default:
		}
	}
	return nil
}

func (o *oneShot) Close() error {
	o.once.Do(func() { close(o.done) })
	return nil
}

func (o *oneShot) SessionID() string { return "" }

type oneShotErr struct{}

func (oneShotErr) Error() string { return "EOF: stateless request done" }

var errOneShotDone error = oneShotErr{}

// stripProtocolMeta removes the per-request protocol keys of revision
// 2026-07-28 (io.modelcontextprotocol/…) from params._meta: the upstream
// session was initialized with the gateway's own version, and an SDK
// refuses a request that names another one. Other _meta keys (progress
// tokens, vendor keys) stay.
func stripProtocolMeta(params json.RawMessage) json.RawMessage {
	p, err := members(params)
	if err != nil || p["_meta"] == nil {
		return params
	}
	meta, err := members(p["_meta"])
	if err != nil {
		return params
	}
	n := len(meta)
	for k := range meta {
		if strings.HasPrefix(k, "io.modelcontextprotocol/") {
			delete(meta, k)
		}
	}
	switch {
	case len(meta) == n && n > 0:
		return params // nothing to strip
	case len(meta) == 0:
		delete(p, "_meta")
	default:
		p["_meta"] = encodeMembers(meta)
	}
	return encodeMembers(p)
}

// statelessRelist lists the tools through the shared session after the
// server said they changed, so the registry reconciles (and quarantines)
// at once.
func (h *Handler) statelessRelist(m *Mux) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	up, err := m.Open(ctx)
	if err != nil {
		return
	}
	id, _ := jsonrpc.MakeID("bulwark-relist")
	one := newOneShot(&jsonrpc.Request{ID: id, Method: "tools/list", Params: json.RawMessage(`{}`)})
	c := h.cfg()
	sess := NewSession("stateless-relist", Client{}, one, up, c.Hooks, c.Log)
	go func() { _ = sess.Run(ctx) }()
	select {
	case <-one.resp:
	case <-ctx.Done():
	}
	sess.Close()
}
