package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// WebSocketSubprotocol is the WebSocket subprotocol of MCP over WebSocket:
// one JSON-RPC message per text message.
const WebSocketSubprotocol = "mcp"

// How often an idle WebSocket upstream is pinged, and how long a pong may
// take before the connection is considered dead. Variables for tests.
var (
	wsPingInterval = 30 * time.Second
	wsPingTimeout  = 15 * time.Second
)

// dialWebSocket opens a WebSocket to an MCP server.
func (d *Dialer) dialWebSocket(ctx context.Context, name, upstreamURL string, headers http.Header) (*wsConn, error) {
	origin, err := httpOrigin(upstreamURL)
	if err != nil {
		return nil, fmt.Errorf("mcp: websocket upstream: %w", err)
	}
	rt := &upstreamRoundTripper{base: d.baseTransport(), origin: origin, headers: headers}
	ws, resp, err := websocket.Dial(ctx, upstreamURL, &websocket.DialOptions{
		HTTPClient:   d.clientWith(rt),
		Subprotocols: []string{WebSocketSubprotocol},
	})
	if resp != nil && resp.Body != nil && err != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("mcp: websocket upstream %s: %w", upstreamURL, err)
	}
	if p := ws.Subprotocol(); p != WebSocketSubprotocol {
		ws.Close(websocket.StatusProtocolError, "subprotocol mcp required")
		return nil, fmt.Errorf("mcp: websocket upstream %s: server chose subprotocol %q, want %q", upstreamURL, p, WebSocketSubprotocol)
	}
	ws.SetReadLimit(int64(d.maxMessage()))
	return newWSConn(ws, d.logger().With("mcp_server", name), wsUpstream), nil
}

// wsRole is which end of the relay a WebSocket connects to.
type wsRole struct {
	peer string // "upstream" (the MCP server) or "client", for errors and logs
	// server is true for the gateway's own end of a client's socket: a batch
	// or a message that is not JSON-RPC is answered with a JSON-RPC error
	// instead of closing the socket (an MCP server may send batches).
	server bool
}

var (
	wsUpstream = wsRole{peer: "upstream"}
	wsClient   = wsRole{peer: "client", server: true}
)

// wsConn is an MCP connection over a WebSocket: one JSON-RPC message (or
// batch, from an upstream server) per text message. A goroutine reads the
// socket, so that a Read whose context ends does not close it
// (coder/websocket closes a connection whose read is cancelled); another
// pings it while it is open.
type wsConn struct {
	ws   *websocket.Conn
	log  *slog.Logger
	role wsRole

	ctx    context.Context // ends when the connection closes
	cancel context.CancelFunc

	incoming chan jsonrpc.Message
	done     chan struct{} // closed when the read loop ends
	readErr  error         // why it ended; set before done is closed
	pingErr  atomic.Pointer[error]

	closeOnce sync.Once
	wg        sync.WaitGroup
}

func newWSConn(ws *websocket.Conn, log *slog.Logger, role wsRole) *wsConn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &wsConn{
		ws:       ws,
		log:      log,
		role:     role,
		ctx:      ctx,
		cancel:   cancel,
		incoming: make(chan jsonrpc.Message),
		done:     make(chan struct{}),
	}
	c.wg.Add(2)
	go c.readLoop()
	go c.pingLoop()
	return c
}

func (c *wsConn) readLoop() {
	defer c.wg.Done()
	err := c.readMessages()
	if p := c.pingErr.Load(); p != nil {
		err = *p
	}
	c.readErr = err
	close(c.done)
	c.cancel()
}

func (c *wsConn) readMessages() error {
	for {
		typ, data, err := c.ws.Read(c.ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure || c.ctx.Err() != nil {
				return io.EOF
			}
			return err
		}
		if typ != websocket.MessageText {
			c.ws.Close(websocket.StatusUnsupportedData, "MCP messages are JSON text")
			return errors.New("binary WebSocket message: MCP messages are JSON text")
		}
		if c.role.server {
			m, reply := decodeClientWSMessage(data)
			if reply != nil {
				if err := c.reply(reply); err != nil {
					return err
				}
				continue
			}
			select {
			case c.incoming <- m:
			case <-c.ctx.Done():
				return io.EOF
			}
			continue
		}
		msgs, err := decodeWSMessage(data)
		if err != nil {
			c.ws.Close(websocket.StatusInvalidFramePayloadData, "invalid JSON-RPC message")
			return fmt.Errorf("invalid JSON-RPC message: %w", err)
		}
		for _, m := range msgs {
			select {
			case c.incoming <- m:
			case <-c.ctx.Done():
				return io.EOF
			}
		}
	}
}

// decodeWSMessage decodes one JSON-RPC message or batch.
func decodeWSMessage(data []byte) ([]jsonrpc.Message, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		var raws []json.RawMessage
		if err := json.Unmarshal(data, &raws); err != nil {
			return nil, err
		}
		if len(raws) == 0 {
			return nil, errors.New("empty batch")
		}
		msgs := make([]jsonrpc.Message, 0, len(raws))
		for _, r := range raws {
			m, err := jsonrpc.DecodeMessage(r)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m)
		}
		return msgs, nil
	}
	m, err := jsonrpc.DecodeMessage(data)
	if err != nil {
		return nil, err
	}
	return []jsonrpc.Message{m}, nil
}

func (c *wsConn) pingLoop() {
	defer c.wg.Done()
	t := time.NewTicker(wsPingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(c.ctx, wsPingTimeout)
		err := c.ws.Ping(ctx)
		cancel()
		if err != nil && c.ctx.Err() == nil {
			c.log.Warn("mcp websocket "+c.role.peer+": no pong; closing", "err", err)
			perr := fmt.Errorf("mcp websocket %s: no pong within %v: %w", c.role.peer, wsPingTimeout, err)
			c.pingErr.Store(&perr)
			_ = c.ws.CloseNow()
			return
		}
	}
}

// Read returns the server's next message.
func (c *wsConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case m := <-c.incoming:
		return m, nil
	case <-c.done:
		return nil, c.readErr
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Write sends msg as one text message.
func (c *wsConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	data, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-c.done:
		return fmt.Errorf("mcp websocket %s: connection closed: %w", c.role.peer, c.readErr)
	default:
	}
	return c.ws.Write(ctx, websocket.MessageText, data)
}

// Close closes the WebSocket with a normal closure (waiting briefly for the
// peer's answer) and stops the connection's goroutines.
func (c *wsConn) Close() error {
	c.closeOnce.Do(func() {
		err := c.ws.Close(websocket.StatusNormalClosure, "")
		if err != nil && !errors.Is(err, net.ErrClosed) && websocket.CloseStatus(err) == -1 {
			c.log.Debug("mcp websocket "+c.role.peer+": close", "err", err)
		}
		c.cancel()
		c.wg.Wait()
	})
	return nil
}

// SessionID is empty: a WebSocket is one session.
func (c *wsConn) SessionID() string { return "" }
