package mcp

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// serveWebSocket serves a client over MCP-over-WebSocket on /ws: the
// upgrade request carries the gateway key (Authorization: Bearer or
// x-api-key) and offers the subprotocol "mcp"; each text message is one
// JSON-RPC message. The socket is the session: it opens with the upgrade
// and ends when either side closes it.
func (h *Handler) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	x, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	if r.Method != http.MethodGet || !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		writeRPCError(w, http.StatusUpgradeRequired, -32600, "/ws is MCP over WebSocket: send a WebSocket upgrade (GET) offering the subprotocol \"mcp\".")
		return
	}
	if !headerHasToken(r.Header, "Sec-WebSocket-Protocol", WebSocketSubprotocol) {
		writeRPCError(w, http.StatusBadRequest, -32600, "MCP over WebSocket needs the subprotocol \"mcp\" (Sec-WebSocket-Protocol: mcp).")
		return
	}
	cfg := h.cfg()
	accepted := false
	s, err := h.open(r.Context(), x, func(id string) (downConn, error) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			Subprotocols:    []string{WebSocketSubprotocol},
			CompressionMode: websocket.CompressionDisabled,
		})
		if err != nil {
			return downConn{}, errWSAccept{err}
		}
		accepted = true
		if ws.Subprotocol() != WebSocketSubprotocol { // cannot happen after the check above
			ws.Close(websocket.StatusProtocolError, "subprotocol mcp required")
			return downConn{}, errWSAccept{errors.New("subprotocol mcp not selected")}
		}
		ws.SetReadLimit(cfg.MaxMessageBytes)
		return downConn{conn: newWSConn(ws, cfg.Log.With("proxy", cfg.Proxy.Name, "session", id), wsClient), socket: true}, nil
	})
	if err != nil {
		var ae errWSAccept
		if !errors.As(err, &ae) && !accepted {
			h.openFailed(w, err) // the upgrade did not happen yet: an HTTP answer
		} else {
			cfg.Log.Debug("mcp websocket upgrade failed", "err", err)
		}
		return
	}
	<-s.relay.Done()
	h.end(s.id)
}

// errWSAccept is a failed upgrade; websocket.Accept has answered it.
type errWSAccept struct{ err error }

func (e errWSAccept) Error() string { return "websocket accept: " + e.err.Error() }

// headerHasToken reports whether a comma-separated header holds token
// (case-insensitive).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// decodeClientWSMessage decodes one client message, or returns the JSON-RPC
// error to answer instead (a batch, invalid JSON, not JSON-RPC). The socket
// stays open: the message is refused, not the session.
func decodeClientWSMessage(data []byte) (jsonrpc.Message, []byte) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		return nil, rpcErrorBody(nil, jsonrpc.CodeInvalidRequest, "JSON-RPC batches are not supported (MCP 2025-06-18 and later): send one message per WebSocket message.")
	}
	m, err := jsonrpc.DecodeMessage(data)
	if err != nil {
		if !jsonValid(data) {
			return nil, rpcErrorBody(nil, jsonrpc.CodeParseError, "Parse error: the message is not JSON.")
		}
		return nil, rpcErrorBody(nil, jsonrpc.CodeInvalidRequest, "Invalid request: "+err.Error())
	}
	return m, nil
}

// reply sends a JSON-RPC error the connection gives itself.
func (c *wsConn) reply(body []byte) error {
	ctx, cancel := context.WithTimeout(c.ctx, wsReplyTimeout)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, body)
}

// wsReplyTimeout bounds the connection's own error replies.
var wsReplyTimeout = 10 * time.Second
