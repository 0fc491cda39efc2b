package mcp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// Limits that keep a session's memory and goroutines bounded whatever its
// peers do. Variables for tests.
var (
	// queueMessages and queueBytes bound what waits for the client: at most
	// this many messages, of at most about this many bytes together (a
	// single larger message is let through alone).
	queueMessages = 256
	queueBytes    = 8 << 20
	// clientWriteTimeout bounds one write to the client: a client that does
	// not take a message in this time loses the stream it was written to.
	clientWriteTimeout = 30 * time.Second
	// maxInFlight bounds the client's calls the server has not answered yet.
	maxInFlight = 1024
	// drainTimeout bounds how long the answers to calls in flight may take
	// to reach the client after the server went away.
	drainTimeout = 5 * time.Second
	// relistTimeout is when a relist the server never answered no longer
	// holds up the next one.
	relistTimeout = 30 * time.Second
)

// methodRule is what the MCP specification says of a client method.
type methodRule struct {
	notification   bool // sent without an id
	paramsOptional bool
}

// clientMethods are the methods an MCP client may send to a server (those
// the go-sdk's server transports carry). Anything else is answered with
// "method not found" and never forwarded.
var clientMethods = map[string]methodRule{
	"initialize":                       {},
	"ping":                             {paramsOptional: true},
	"completion/complete":              {},
	"server/discover":                  {paramsOptional: true},
	"logging/setLevel":                 {},
	"prompts/list":                     {paramsOptional: true},
	"prompts/get":                      {},
	"tools/list":                       {paramsOptional: true},
	"tools/call":                       {},
	"resources/list":                   {paramsOptional: true},
	"resources/templates/list":         {paramsOptional: true},
	"resources/read":                   {},
	"resources/subscribe":              {},
	"resources/unsubscribe":            {},
	"subscriptions/listen":             {},
	"notifications/cancelled":          {notification: true, paramsOptional: true},
	"notifications/initialized":        {notification: true, paramsOptional: true},
	"notifications/roots/list_changed": {notification: true, paramsOptional: true},
	"notifications/progress":           {notification: true},
}

// outItem is a message waiting for the client, or (flush set) a marker the
// writer closes when it reaches it.
type outItem struct {
	msg   jsonrpc.Message
	size  int
	flush chan struct{}
}

// outQueue holds the messages for the client between the relay's loops and
// its writer. Bytes count until a message is written, so what the relay
// holds for a client that does not read is bounded by the limits plus one
// message.
type outQueue struct {
	mu       sync.Mutex
	items    []outItem
	bytes    int
	high     int // the most bytes ever held (tests)
	maxMsgs  int
	maxBytes int
	changed  chan struct{} // closed and replaced whenever the queue changes
}

func newOutQueue(maxMsgs, maxBytes int) *outQueue {
	return &outQueue{maxMsgs: maxMsgs, maxBytes: maxBytes, changed: make(chan struct{})}
}

func (q *outQueue) signalLocked() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// put adds it if there is room (or force), else returns a channel that is
// closed when the queue next changes.
func (q *outQueue) put(it outItem, force bool) (bool, <-chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !force && q.bytes > 0 && (len(q.items) >= q.maxMsgs || q.bytes+it.size > q.maxBytes) {
		return false, q.changed
	}
	q.items = append(q.items, it)
	q.bytes += it.size
	q.high = max(q.high, q.bytes)
	q.signalLocked()
	return true, nil
}

// take removes the first item, or returns a channel closed on the next change.
func (q *outQueue) take() (outItem, bool, <-chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return outItem{}, false, q.changed
	}
	it := q.items[0]
	q.items[0] = outItem{}
	q.items = q.items[1:]
	return it, true, nil
}

// release returns the bytes of a written (or failed) message.
func (q *outQueue) release(size int) {
	q.mu.Lock()
	q.bytes -= size
	q.signalLocked()
	q.mu.Unlock()
}

func (q *outQueue) highWater() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.high
}

// msgSize estimates the memory a message holds.
func msgSize(m jsonrpc.Message) int {
	switch m := m.(type) {
	case *jsonrpc.Request:
		return 64 + len(m.Method) + len(m.Params)
	case *jsonrpc.Response:
		n := 64 + len(m.Result)
		if m.Error != nil {
			n += len(m.Error.Error())
			var we *jsonrpc.Error
			if errors.As(m.Error, &we) {
				n += len(we.Data)
			}
		}
		return n
	}
	return 64
}

// send queues m for the client, waiting for room: responses and server
// requests are never dropped, so a client that does not read holds up the
// server (backpressure) instead of filling memory.
func (s *Session) send(ctx context.Context, m jsonrpc.Message) error {
	it := outItem{msg: m, size: msgSize(m)}
	for {
		ok, wait := s.out.put(it, false)
		if ok {
			return nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return sdk.ErrConnectionClosed
		}
	}
}

// notify queues a server notification for the client, or drops it when the
// queue is full.
func (s *Session) notify(m *jsonrpc.Request) {
	if ok, _ := s.out.put(outItem{msg: m, size: msgSize(m)}, false); !ok {
		s.dropped(m.Method, "client behind")
	}
}

// flush waits until everything queued before it was written (or ctx ends).
func (s *Session) flush(ctx context.Context) {
	ch := make(chan struct{})
	s.out.put(outItem{flush: ch}, true)
	select {
	case <-ch:
	case <-ctx.Done():
	case <-s.done:
	}
}

// writeLoop writes the queue to the client, one message at a time, each
// within the write timeout.
func (s *Session) writeLoop(ctx context.Context) {
	defer close(s.writerDone)
	for {
		it, ok, wait := s.out.take()
		if !ok {
			select {
			case <-wait:
				continue
			case <-s.done:
				return
			}
		}
		if it.flush != nil {
			close(it.flush)
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, s.writeTimeout)
		err := s.down.Write(wctx, it.msg)
		cancel()
		s.out.release(it.size)
		if err == nil {
			continue
		}
		if s.closed.Load() || ctx.Err() != nil {
			return
		}
		if isRejected(err) {
			s.undelivered(ctx, it.msg, err)
			continue
		}
		s.log.Warn("mcp client write failed; ending the session", "err", err)
		s.writeErr.Store(&err)
		s.Close()
		return
	}
}

// isRejected reports a write the client's transport refused without the
// session breaking (streamable HTTP: the stream the message belonged to is
// gone, or the client has no standalone stream open).
func isRejected(err error) bool {
	var we *jsonrpc.Error
	return errors.As(err, &we) && we.Code == -32005
}

// undelivered handles a message the client's transport refused.
func (s *Session) undelivered(ctx context.Context, m jsonrpc.Message, err error) {
	switch m := m.(type) {
	case *jsonrpc.Request:
		if !m.IsCall() {
			s.dropped(m.Method, "no client stream")
			return
		}
		// The server asked the client something it cannot receive: answer
		// for it, so the server does not wait forever.
		s.log.Warn("mcp server request could not reach the client", "method", m.Method, "err", err)
		_ = s.up.Write(ctx, errorReply(m.ID, CodeServerGone, "The client could not be reached.", nil))
	case *jsonrpc.Response:
		s.log.Warn("mcp answer could not reach the client (its request's stream is gone)", "err", err)
	}
}

// dropLog counts dropped notifications and logs them at most once a second.
type dropLog struct {
	total   atomic.Int64
	mu      sync.Mutex
	last    time.Time
	pending int
}

func (s *Session) dropped(method, reason string) {
	s.drops.total.Add(1)
	if s.onDrop != nil {
		s.onDrop(method, reason)
	}
	d := &s.drops
	d.mu.Lock()
	d.pending++
	now := time.Now()
	if now.Sub(d.last) < time.Second {
		d.mu.Unlock()
		return
	}
	n := d.pending
	d.pending, d.last = 0, now
	d.mu.Unlock()
	s.log.Warn("mcp server notifications dropped", "reason", reason, "method", method, "count", n, "total", d.total.Load())
}

// deadlineWriter bounds every write and flush of a long-lived response (an
// SSE stream) by a deadline on the connection, so a client that stops
// reading cannot hold the relay: the write fails, and cancel ends the
// request, which closes the connection.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	cancel  context.CancelFunc
}

func (d *deadlineWriter) arm() { _ = d.rc.SetWriteDeadline(time.Now().Add(d.timeout)) }

func (d *deadlineWriter) disarm(err error) {
	if err != nil {
		d.cancel()
		return
	}
	_ = d.rc.SetWriteDeadline(time.Time{})
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.arm()
	n, err := d.ResponseWriter.Write(p)
	d.disarm(err)
	return n, err
}

// FlushError flushes within the deadline (http.ResponseController uses it).
func (d *deadlineWriter) FlushError() error {
	d.arm()
	err := d.rc.Flush()
	d.disarm(err)
	return err
}

func (d *deadlineWriter) Flush() { _ = d.FlushError() }

// Unwrap gives http.ResponseController the underlying writer.
func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// guard wraps a streaming response in a deadlineWriter; the returned
// request's context ends when a write fails. The caller must call cancel.
func guard(w http.ResponseWriter, r *http.Request, timeout time.Duration) (http.ResponseWriter, *http.Request, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	return &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: timeout, cancel: cancel}, r.WithContext(ctx), cancel
}

// checkClientMessage validates one client message as the go-sdk's server
// transports would, but answers with JSON-RPC errors instead of their plain
// text: msg is nil when status and body are the answer.
func checkClientMessage(body []byte) (msg jsonrpc.Message, status int, reply []byte) {
	if len(body) == 0 {
		return nil, http.StatusBadRequest, rpcErrorBody(nil, jsonrpc.CodeInvalidRequest, "Empty body: send one JSON-RPC message.")
	}
	if body[0] == '[' {
		return nil, http.StatusBadRequest, rpcErrorBody(nil, jsonrpc.CodeInvalidRequest, "JSON-RPC batches are not supported (MCP 2025-06-18 and later): send one message per request.")
	}
	m, err := decodeMessage(body)
	if err != nil {
		if !jsonValid(body) {
			return nil, http.StatusBadRequest, rpcErrorBody(nil, jsonrpc.CodeParseError, "Parse error: the body is not a JSON-RPC message: "+err.Error())
		}
		return nil, http.StatusBadRequest, rpcErrorBody(nil, jsonrpc.CodeInvalidRequest, "Invalid request: "+err.Error())
	}
	req, ok := m.(*jsonrpc.Request)
	if !ok {
		return m, 0, nil
	}
	rule, known := clientMethods[req.Method]
	switch {
	case !known && !req.IsCall():
		return nil, http.StatusAccepted, nil // a notification nobody handles: accepted, dropped
	case !known:
		return nil, http.StatusOK, rpcErrorBody(&req.ID, jsonrpc.CodeMethodNotFound, fmt.Sprintf("Method not found: %q is not an MCP method this gateway relays.", req.Method))
	case rule.notification && req.IsCall():
		return nil, http.StatusOK, rpcErrorBody(&req.ID, jsonrpc.CodeInvalidRequest, fmt.Sprintf("%s is a notification: it takes no id.", req.Method))
	case !rule.notification && !req.IsCall():
		return nil, http.StatusBadRequest, rpcErrorBody(nil, jsonrpc.CodeInvalidRequest, fmt.Sprintf("%s is a request: it needs an id.", req.Method))
	case !rule.paramsOptional && len(req.Params) == 0:
		if !req.IsCall() {
			return nil, http.StatusBadRequest, rpcErrorBody(nil, jsonrpc.CodeInvalidParams, fmt.Sprintf("%s needs params.", req.Method))
		}
		return nil, http.StatusOK, rpcErrorBody(&req.ID, jsonrpc.CodeInvalidParams, fmt.Sprintf("%s needs params.", req.Method))
	}
	return m, 0, nil
}
