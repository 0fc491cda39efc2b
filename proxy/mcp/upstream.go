package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	bulwark "github.com/bulwarkhq/bulwark"
)

// upstreamDefaultMaxMessage bounds one upstream JSON-RPC message when
// Dialer.MaxMessageBytes is zero (the go-sdk's own default).
const upstreamDefaultMaxMessage = sdk.DefaultMaxLineLength

// A Dialer connects the relay to the MCP server behind a proxy. It is safe for
// concurrent use; the zero value dials with a transport like
// http.DefaultTransport (with more idle connections per host), discards
// logs, lets stdio servers run from absolute paths only and bounds messages
// to 16 MiB.
type Dialer struct {
	// Log receives the transport's own messages and, for stdio servers, the
	// server's standard error, line by line. Nil discards them.
	Log *slog.Logger
	// AllowedCommands are the commands an operator allows stdio servers to
	// run: bare names (resolved on PATH) or absolute paths. When it is empty,
	// any absolute path may run and bare names are refused; when it is not,
	// only the commands listed may run.
	AllowedCommands []string
	// HTTPClient makes the requests of the HTTP and WebSocket transports.
	// It must not set a Timeout: MCP streams stay open for a long time.
	// Nil selects a client on the default transport (see Dialer).
	HTTPClient *http.Client
	// MaxMessageBytes bounds one message read from the server (a stdio line,
	// a server-sent event, a WebSocket message). Zero selects 16 MiB.
	MaxMessageBytes int
}

// Dial connects to the upstream MCP server of proxy name and returns a raw
// JSON-RPC connection to it: the caller writes the client's messages and reads
// the server's, without any MCP session logic in between.
//
// upstreamURL is the server's endpoint for the HTTP transports (the MCP
// endpoint for streamable_http, the SSE stream for sse, a ws:// or wss:// URL
// for websocket) and is ignored for stdio. headers are added to every HTTP
// request sent to the upstream's origin (never to another origin), typically
// an Authorization credential the gateway holds for that server; the headers
// the transport manages itself (Mcp-Session-Id, Mcp-Protocol-Version,
// Content-Type, Accept, Host, the WebSocket handshake) are never overridden.
//
// ctx bounds the dialing only: the connection lives until Close. For stdio,
// Dial starts a new process (see Supervisor to keep one running).
func (d *Dialer) Dial(ctx context.Context, name string, cfg *bulwark.MCPConfig, upstreamURL string, headers http.Header) (sdk.Connection, error) {
	if cfg == nil {
		return nil, errors.New("mcp: dial: no MCP configuration")
	}
	switch cfg.Transport {
	case bulwark.MCPStdio:
		c, err := d.dialStdio(name, cfg)
		if err != nil {
			return nil, err
		}
		return c, nil
	case bulwark.MCPStreamableHTTP:
		return d.dialStreamable(ctx, upstreamURL, headers)
	case bulwark.MCPSSE:
		return d.dialSSE(ctx, upstreamURL, headers)
	case bulwark.MCPWebSocket:
		c, err := d.dialWebSocket(ctx, name, upstreamURL, headers)
		if err != nil {
			return nil, err
		}
		return c, nil
	default:
		return nil, fmt.Errorf("mcp: dial %s: unknown transport %q", name, cfg.Transport)
	}
}

func (d *Dialer) logger() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

func (d *Dialer) maxMessage() int {
	if d.MaxMessageBytes > 0 {
		return d.MaxMessageBytes
	}
	return upstreamDefaultMaxMessage
}

func (d *Dialer) dialStreamable(ctx context.Context, upstreamURL string, headers http.Header) (sdk.Connection, error) {
	origin, err := httpOrigin(upstreamURL)
	if err != nil {
		return nil, fmt.Errorf("mcp: streamable_http upstream: %w", err)
	}
	rt := &upstreamRoundTripper{base: d.baseTransport(), origin: origin, headers: headers}
	t := &sdk.StreamableClientTransport{
		Endpoint:     upstreamURL,
		HTTPClient:   d.clientWith(rt),
		MaxEventSize: d.maxMessage(),
	}
	conn, err := t.Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("mcp: streamable_http upstream %s: %w", upstreamURL, err)
	}
	hc := &httpConn{Connection: conn, rt: rt, endpoint: upstreamURL, client: d.clientWith(rt), maxMessage: d.maxMessage()}
	hc.standalone = newStandalone(upstreamURL, hc.client, conn.SessionID, conn.Read)
	return hc, nil
}

func (d *Dialer) dialSSE(ctx context.Context, upstreamURL string, headers http.Header) (sdk.Connection, error) {
	origin, err := httpOrigin(upstreamURL)
	if err != nil {
		return nil, fmt.Errorf("mcp: sse upstream: %w", err)
	}
	rt := &upstreamRoundTripper{base: d.baseTransport(), origin: origin, headers: headers}
	t := &sdk.SSEClientTransport{
		Endpoint:     upstreamURL,
		HTTPClient:   d.clientWith(rt),
		MaxEventSize: d.maxMessage(),
	}
	// The SSE transport's hanging GET lives on the context given to Connect:
	// detach it from ctx once connected, so that ctx bounds the dialing only.
	connCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	conn, err := t.Connect(connCtx)
	if !stop() || err != nil {
		cancel()
		if err == nil {
			conn.Close()
			err = context.Cause(ctx)
		}
		return nil, fmt.Errorf("mcp: sse upstream %s: %w", upstreamURL, err)
	}
	return &httpConn{Connection: conn, rt: rt, cancel: cancel}, nil
}

func (d *Dialer) baseTransport() http.RoundTripper {
	if d.HTTPClient != nil && d.HTTPClient.Transport != nil {
		return d.HTTPClient.Transport
	}
	return defaultTransport
}

// defaultTransport is http.DefaultTransport with a pool sized for many
// sessions to one server: every session's calls go to the same host, and
// the default keeps 2 idle connections per host, so a busy proxy would
// open a new connection (and leave one in TIME_WAIT) for most calls.
var defaultTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	return t
}()

// clientWith returns a copy of the Dialer's client sending through rt.
func (d *Dialer) clientWith(rt http.RoundTripper) *http.Client {
	var c http.Client
	if d.HTTPClient != nil {
		c = *d.HTTPClient
	}
	c.Transport = rt
	return &c
}

// httpOrigin returns scheme://host of an http(s) or ws(s) URL, with ws
// mapped to http and wss to https.
func httpOrigin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("upstream URL: %w", err)
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "ws":
		scheme = "http"
	case "wss":
		scheme = "https"
	case "http", "https":
	default:
		return "", fmt.Errorf("upstream URL %q: scheme must be http or https (ws or wss for websocket)", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("upstream URL %q has no host", raw)
	}
	return scheme + "://" + strings.ToLower(u.Host), nil
}

// reservedHeaders are the request headers the transports set themselves; the
// configured upstream headers never replace them.
var reservedHeaders = map[string]bool{
	"Mcp-Session-Id":           true,
	"Mcp-Protocol-Version":     true,
	"Content-Type":             true,
	"Content-Length":           true,
	"Accept":                   true,
	"Host":                     true,
	"Connection":               true,
	"Upgrade":                  true,
	"Last-Event-Id":            true,
	"Sec-Websocket-Key":        true,
	"Sec-Websocket-Version":    true,
	"Sec-Websocket-Protocol":   true,
	"Sec-Websocket-Extensions": true,
	"Transfer-Encoding":        true,
}

// upstreamRoundTripper adds the configured headers (an upstream credential)
// to requests for the upstream's origin, and the negotiated protocol version
// header when the transport did not set one.
type upstreamRoundTripper struct {
	base    http.RoundTripper
	origin  string // scheme://host the headers may go to
	headers http.Header
	// protocolVersion is the version the server answered to initialize,
	// sent as Mcp-Protocol-Version on later requests (the go-sdk only sets
	// it for sessions it runs itself, not for a relayed one).
	protocolVersion atomic.Pointer[string]
}

func (t *upstreamRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	sameOrigin := strings.ToLower(req.URL.Scheme)+"://"+strings.ToLower(req.URL.Host) == t.origin
	pv := t.protocolVersion.Load()
	addPV := pv != nil && req.Header.Get("Mcp-Protocol-Version") == ""
	if !sameOrigin || (len(t.headers) == 0 && !addPV) {
		return t.base.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	for k, v := range t.headers {
		k = http.CanonicalHeaderKey(k)
		if reservedHeaders[k] || len(v) == 0 {
			continue
		}
		r.Header[k] = append([]string(nil), v...)
	}
	if addPV {
		r.Header.Set("Mcp-Protocol-Version", *pv)
	}
	return t.base.RoundTrip(r)
}

// httpConn is a streamable HTTP or SSE connection that watches the initialize
// exchange for the negotiated protocol version.
type httpConn struct {
	sdk.Connection
	rt     *upstreamRoundTripper
	cancel context.CancelFunc // ends the SSE stream; nil for streamable HTTP
	// standalone merges the standalone GET stream of a streamable HTTP
	// upstream into Read (nil for SSE).
	standalone *standalone
	// endpoint, client and maxMessage let the relay post calls to a
	// streamable HTTP upstream itself (see call).
	endpoint   string
	client     *http.Client
	maxMessage int

	mu      sync.Mutex
	initIDs []jsonrpc.ID // initialize calls awaiting their answer
}

func (c *httpConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	if req, ok := msg.(*jsonrpc.Request); ok && req.IsCall() && req.Method == "initialize" {
		c.mu.Lock()
		if len(c.initIDs) < 8 {
			c.initIDs = append(c.initIDs, req.ID)
		}
		c.mu.Unlock()
	}
	if req, ok := msg.(*jsonrpc.Request); ok && !req.IsCall() && req.Method == "notifications/initialized" && c.standalone != nil {
		err := c.Connection.Write(ctx, msg)
		if err == nil {
			c.mu.Lock()
			c.standalone.start()
			c.mu.Unlock()
		}
		return err
	}
	return c.Connection.Write(ctx, msg)
}

func (c *httpConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	var msg jsonrpc.Message
	var err error
	if c.standalone != nil {
		msg, err = c.standalone.read(ctx)
	} else {
		msg, err = c.Connection.Read(ctx)
	}
	if resp, ok := msg.(*jsonrpc.Response); ok && err == nil {
		c.observe(resp)
	}
	return msg, err
}

func (c *httpConn) observe(resp *jsonrpc.Response) {
	c.mu.Lock()
	found := false
	for i, id := range c.initIDs {
		if id == resp.ID {
			c.initIDs = append(c.initIDs[:i], c.initIDs[i+1:]...)
			found = true
			break
		}
	}
	c.mu.Unlock()
	if !found || resp.Error != nil {
		return
	}
	var r struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if json.Unmarshal(resp.Result, &r) == nil && r.ProtocolVersion != "" && !strings.ContainsAny(r.ProtocolVersion, "\r\n") {
		c.rt.protocolVersion.Store(&r.ProtocolVersion)
	}
}

func (c *httpConn) Close() error {
	if c.standalone != nil {
		c.standalone.close()
	}
	err := c.Connection.Close()
	if c.cancel != nil {
		c.cancel()
	}
	return err
}
