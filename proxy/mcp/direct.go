package mcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/bulwarkhq/bulwark/proxy/sse"
)

// A call to a streamable HTTP server is posted by the relay itself and its
// answer read in the caller's goroutine (httpConn.call), instead of going
// through the go-sdk's connection, which encodes the message again, reads
// the answer in a goroutine of its own and hands it through two more (its
// reader, the standalone merge) before the relay sees it. The exchange on
// the wire is the same: the POST the go-sdk would send (same headers, the
// session id, the negotiated protocol version, the configured upstream
// headers), the answer as JSON or as an SSE stream whose other messages are
// relayed as if read from the connection, and a broken stream resumed with
// Last-Event-ID as the go-sdk does.

// directRetries bounds the resumptions of a call's stream that bring no new
// event, as the go-sdk's default MaxRetries.
const directRetries = 5

// directRetryDelay is the wait before resuming a stream when the server
// did not say (retry field); a variable for tests.
var directRetryDelay = time.Second

// errNoAnswer is a call's stream that ended without the answer and cannot
// be resumed (the server gave no event id).
var errNoAnswer = errors.New("the MCP server ended the call's stream without an answer")

// directError is a failed direct call. delivered says the server may have
// received the request; broken that the connection (the upstream session)
// is no longer usable.
type directError struct {
	err       error
	delivered bool
	broken    bool
}

func (e *directError) Error() string { return e.err.Error() }
func (e *directError) Unwrap() error { return e.err }

// canPost reports whether calls may be posted directly: a streamable HTTP
// connection whose negotiated protocol needs no per-request headers the
// go-sdk would add (2026-07-28 and later send Mcp-Method and Mcp-Name).
func (c *httpConn) canPost() bool {
	if c.standalone == nil || c.endpoint == "" {
		return false
	}
	pv := c.rt.protocolVersion.Load()
	return pv == nil || *pv < ProtocolStateless
}

// call posts req and returns the server's answer; the other messages of
// its stream (notifications, server requests) go to other, in order.
func (c *httpConn) call(ctx context.Context, req *jsonrpc.Request, other func(jsonrpc.Message)) (*jsonrpc.Response, error) {
	data, err := encodeMessage(req)
	if err != nil {
		return nil, &directError{err: err}
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(data))
	if err != nil {
		return nil, &directError{err: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json, text/event-stream")
	sid := c.SessionID()
	if sid != "" {
		hreq.Header.Set(sessionHeader, sid)
	}
	resp, err := c.client.Do(hreq)
	if err != nil {
		return nil, &directError{err: fmt.Errorf("sending %q: %w", req.Method, err)}
	}
	// The rest of the body (the end of the stream after the answer) is
	// drained so the connection goes back to the pool, but not waited for.
	defer func() { go drain(resp.Body) }()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, statusError(req.Method, resp, sid != "")
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		body, err := io.ReadAll(io.LimitReader(resp.Body, int64(c.maxMessage)+1))
		if err != nil {
			return nil, &directError{err: fmt.Errorf("%q: reading the answer: %w", req.Method, err), delivered: true, broken: true}
		}
		if len(body) > c.maxMessage {
			return nil, &directError{err: fmt.Errorf("%q: answer larger than %d bytes", req.Method, c.maxMessage), delivered: true, broken: true}
		}
		msg, err := decodeMessage(body)
		if err != nil {
			return nil, &directError{err: fmt.Errorf("%q: decoding the answer: %w", req.Method, err), delivered: true, broken: true}
		}
		if r, ok := msg.(*jsonrpc.Response); ok && r.ID == req.ID {
			return r, nil
		}
		other(msg)
		return nil, &directError{err: errNoAnswer, delivered: true}
	case "text/event-stream":
		return c.readStream(ctx, req, resp.Body, other)
	default:
		return nil, &directError{err: fmt.Errorf("%q: unsupported content type %q", req.Method, ct), delivered: true, broken: true}
	}
}

func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	body.Close()
}

// statusError classifies a refused POST as the go-sdk does: 404 on a
// session means the session is gone; a transient status (429, 502, 503,
// 504) or a JSON-RPC error body fails only this call.
func statusError(method string, resp *http.Response, session bool) error {
	err := fmt.Errorf("sending %q: %s", method, resp.Status)
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return &directError{err: err}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if m, derr := decodeMessage(body); derr == nil {
		if r, ok := m.(*jsonrpc.Response); ok && r.Error != nil {
			return &directError{err: fmt.Errorf("%w: %w", err, r.Error)}
		}
	}
	if resp.StatusCode == http.StatusNotFound && session {
		return &directError{err: fmt.Errorf("%w: the server ended the session", err), broken: true}
	}
	return &directError{err: err, broken: true}
}

// readStream reads a call's SSE stream up to the answer, resuming it with
// Last-Event-ID when it breaks after the server gave event ids.
func (c *httpConn) readStream(ctx context.Context, req *jsonrpc.Request, body io.Reader, other func(jsonrpc.Message)) (*jsonrpc.Response, error) {
	var lastID, prevID string
	var resumed io.ReadCloser // the caller closes the first body, readStream the others
	defer func() {
		if resumed != nil {
			resumed.Close()
		}
	}()
	for retries := 0; ; {
		answer, last, delay, err := c.readEvents(req, body, other)
		switch {
		case answer != nil:
			return answer, nil
		case errors.Is(err, errMalformedStream):
			return nil, &directError{err: err, delivered: true, broken: true}
		case ctx.Err() != nil:
			return nil, &directError{err: ctx.Err(), delivered: true}
		}
		if last != "" {
			lastID = last
		}
		if lastID == "" {
			return nil, &directError{err: errNoAnswer, delivered: true}
		}
		if lastID != prevID {
			prevID, retries = lastID, 0
		} else if retries++; retries > directRetries {
			return nil, &directError{err: fmt.Errorf("%q: the stream broke %d times without progress", req.Method, directRetries), delivered: true, broken: true}
		}
		if delay <= 0 {
			delay = directRetryDelay
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, &directError{err: ctx.Err(), delivered: true}
		}
		if resumed != nil {
			resumed.Close()
		}
		var rerr error
		if resumed, rerr = c.resume(ctx, lastID); rerr != nil {
			return nil, &directError{err: fmt.Errorf("%q: resuming the stream: %w", req.Method, rerr), delivered: true, broken: true}
		}
		body = resumed
	}
}

// errMalformedStream is an event that is not a JSON-RPC message or is
// larger than the bound: the go-sdk fails the connection for it.
var errMalformedStream = errors.New("malformed event on the call's stream")

// readEvents reads events until the answer to req or the stream's end; it
// returns the last event id seen and the server's retry delay.
func (c *httpConn) readEvents(req *jsonrpc.Request, body io.Reader, other func(jsonrpc.Message)) (*jsonrpc.Response, string, time.Duration, error) {
	rd := sse.NewReader(body)
	rd.SetMaxEventSize(c.maxMessage)
	var last string
	var delay time.Duration
	for {
		ev, err := rd.Next()
		if err != nil {
			if errors.Is(err, sse.ErrEventTooLarge) {
				return nil, last, delay, fmt.Errorf("%w: %w", errMalformedStream, err)
			}
			return nil, last, delay, err
		}
		last = ev.ID
		if ev.Retry > 0 {
			delay = time.Duration(ev.Retry) * time.Millisecond
		}
		if ev.Data == "" {
			continue // a priming event: its id is what a resumption starts from
		}
		msg, err := decodeMessage([]byte(ev.Data))
		if err != nil {
			return nil, last, delay, fmt.Errorf("%w: %w", errMalformedStream, err)
		}
		if r, ok := msg.(*jsonrpc.Response); ok && r.ID == req.ID {
			return r, last, delay, nil
		}
		other(msg)
	}
}

// resume reopens a call's stream after lastID with a GET.
func (c *httpConn) resume(ctx context.Context, lastID string) (io.ReadCloser, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint, nil)
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Accept", "text/event-stream")
	hreq.Header.Set("Last-Event-ID", lastID)
	if sid := c.SessionID(); sid != "" {
		hreq.Header.Set(sessionHeader, sid)
	}
	resp, err := c.client.Do(hreq)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, errors.New(resp.Status)
	}
	return resp.Body, nil
}
