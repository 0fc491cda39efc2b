package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/inspect"
)

// JSON-RPC error codes of the gateway's own refusals. They are in the
// implementation-defined server error range, so clients treat them as
// errors of the call, not of the transport.
const (
	CodeToolNotApproved = -32010 // the tool is pending, denied, quarantined, removed or not allowed for the group
	CodePolicyViolation = -32011 // a policy rule blocked the arguments or the result
	CodeRateLimited     = -32012
	CodeGatewayError    = -32013 // the gateway could not inspect the message: refused, never passed uninspected
	// CodeServerGone answers every call still in flight when the connection
	// to the MCP server fails, and calls beyond the in-flight limit.
	CodeServerGone = -32000
)

// serverGoneMessage is the error of calls in flight when the server's
// connection failed.
const serverGoneMessage = "the MCP server went away"

// Client identifies who a session belongs to.
type Client struct {
	Group *bulwark.Group
	Key   *bulwark.GatewayKey
}

// GroupName is the client's group name, or "".
func (c Client) GroupName() string {
	if c.Group == nil {
		return ""
	}
	return c.Group.Name
}

// Refusal is why a client may not use a tool.
type Refusal struct {
	Code    int64
	Message string
}

// Hooks connect a session to the gateway: the tool registry (approval,
// pinning), the proxy's policies and the records.
type Hooks interface {
	// Listed records a listing the server gave (tools, prompts or
	// resources, each item its raw definition) and returns the names the
	// client may see. An error fails the listing closed.
	// complete is false for one page of a paginated listing (or a resource
	// listing): items missing from it are not removed.
	Listed(ctx context.Context, kind bulwark.ToolKind, items []json.RawMessage, complete bool, c Client) (visible map[string]bool, err error)
	// Check decides whether c may use kind/name now (approved, unchanged,
	// allowed for the group, within its rate).
	Check(ctx context.Context, kind bulwark.ToolKind, name string, c Client) *Refusal
	// Scan inspects the texts of doc on surface; it may redact them in place
	// (when redact is true) and returns a block or an error.
	Scan(ctx context.Context, surface bulwark.Surface, doc inspect.Doc, redact bool, call *Call) error
	// Instructions scans the server's initialize instructions.
	Instructions(ctx context.Context, text string)
	// Done reports a finished call.
	Done(call *Call)
}

// Call is one tools/call (or prompts/get, resources/read) through the relay.
type Call struct {
	Session  string
	Client   Client
	Kind     bulwark.ToolKind
	Name     string
	Start    time.Time
	Duration time.Duration
	Verdict  bulwark.Verdict
	RuleID   string
	Findings []bulwark.Finding
	Error    string
}

// pending is a client request forwarded upstream, awaiting its response.
type pending struct {
	method string
	call   *Call
	paged  bool // a listing request for a page after the first
	// wait, when set, takes the answer instead of the client queue: the
	// request came through Session.Call (a POST answered on its own).
	wait chan *jsonrpc.Response
	// report, when set, takes the finished call instead of Hooks.Done, so
	// the caller reports it once the answer is on its way.
	report func(*Call)
}

// Session relays one client session to its upstream connection.
type Session struct {
	ID     string
	Client Client
	down   sdk.Connection // the client
	up     sdk.Connection // the server
	hooks  Hooks
	log    *slog.Logger

	mu        sync.Mutex
	pending   map[jsonrpc.ID]pending
	ownSeq    atomic.Int64
	relisting atomic.Int64 // unix nanos of the relist in flight, 0 when none
	closed    atomic.Bool
	done      chan struct{}
	// life lasts as long as the session: what Call starts upstream lives
	// with the session, not with the client's request.
	life context.Context
	stop context.CancelFunc

	// Everything to the client goes through out, written by one goroutine
	// (see outQueue for the policy).
	out          *outQueue
	writeTimeout time.Duration
	writerDone   chan struct{}
	writeErr     atomic.Pointer[error]
	onDrop       func(method, reason string)
	drops        dropLog

	// report, when set, takes the finished calls of a call-only session
	// (newCallSession) instead of Hooks.Done.
	report func(*Call)
}

// NewSession relays between down (the client) and up (the server).
func NewSession(id string, c Client, down, up sdk.Connection, hooks Hooks, log *slog.Logger) *Session {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	life, stop := context.WithCancel(context.Background())
	return &Session{ID: id, Client: c, down: down, up: up, hooks: hooks, log: log,
		pending: map[jsonrpc.ID]pending{}, done: make(chan struct{}), life: life, stop: stop,
		out: newOutQueue(queueMessages, queueBytes), writeTimeout: clientWriteTimeout,
		writerDone: make(chan struct{})}
}

// newCallSession is a session that only judges requests and their answers
// (request, response) for a caller that relays them itself: no
// connections, no loops.
func newCallSession(id string, c Client, hooks Hooks, log *slog.Logger) *Session {
	return &Session{ID: id, Client: c, hooks: hooks, log: log, pending: map[jsonrpc.ID]pending{}}
}

// Dropped is the number of server notifications the session dropped because
// the client did not take them in time (or had no stream open for them).
func (s *Session) Dropped() int64 { return s.drops.total.Load() }

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Run relays until either side ends or ctx is cancelled, then closes both.
func (s *Session) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.writeLoop(ctx)
	errc := make(chan error, 2)
	go func() { errc <- s.fromClient(ctx) }()
	go func() { errc <- s.fromServer(ctx) }()
	err := <-errc
	cancel()
	s.Close()
	if second := <-errc; err == nil { // the other loop ends once both connections are closed
		err = second
	}
	<-s.writerDone
	if p := s.writeErr.Load(); p != nil && (err == nil || errors.Is(err, sdk.ErrConnectionClosed) || isEOF(err)) {
		err = *p
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, sdk.ErrConnectionClosed) || isEOF(err) {
		err = nil
	}
	return err
}

// Close ends the session.
func (s *Session) Close() {
	if s.closed.CompareAndSwap(false, true) {
		s.stop()
		_ = s.down.Close()
		_ = s.up.Close()
		close(s.done)
	}
}

func isEOF(err error) bool {
	return err != nil && (err.Error() == "EOF" || strings.Contains(err.Error(), "EOF"))
}

// fromClient relays client → server, enforcing approvals and policies.
func (s *Session) fromClient(ctx context.Context) error {
	for {
		msg, err := s.down.Read(ctx)
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *jsonrpc.Request:
			if _, known := clientMethods[m.Method]; !known {
				// Fail closed: a method the gateway does not know might run
				// a tool past the approval checks in a future protocol.
				if !m.IsCall() {
					s.log.Debug("mcp client notification of an unknown method dropped", "method", m.Method)
					continue
				}
				if err := s.send(ctx, errorReply(m.ID, jsonrpc.CodeMethodNotFound, fmt.Sprintf("Method not found: %q is not an MCP method this gateway relays.", m.Method), nil)); err != nil {
					return err
				}
				continue
			}
			if !m.IsCall() {
				if err := s.up.Write(ctx, m); err != nil {
					return s.upstreamFailed(ctx, err)
				}
				continue
			}
			fwd, reply := s.request(ctx, m, nil)
			if reply != nil {
				if err := s.send(ctx, reply); err != nil {
					return err
				}
				continue
			}
			if err := s.up.Write(ctx, fwd); err != nil {
				return s.upstreamFailed(ctx, err)
			}
		case *jsonrpc.Response:
			// The client answers a server request (sampling, elicitation, roots).
			if err := s.up.Write(ctx, m); err != nil {
				return s.upstreamFailed(ctx, err)
			}
		}
	}
}

// errSessionEnded is Call's error when the session ended before the
// message could be relayed or answered.
var errSessionEnded = errors.New("the MCP session ended")

// Call relays one message the client sent on its own, in the caller's
// goroutine, as the relay's loop relays a message read from the client, and
// returns the answer to a request: the server's (inspected) or the
// gateway's refusal. For a notification or a response it returns nil once
// the message went upstream. It serves POSTs answered with a plain JSON
// body, skipping the client queue: the answer to a request is the only
// message of such a POST's stream (the relay sends notifications and server
// requests on the standalone stream). When report is not nil, the call's
// record waits for it: the caller calls it once the answer is sent, so the
// bookkeeping is not in the way of the answer. The error is ctx's when the
// client went away first, or errSessionEnded.
func (s *Session) Call(ctx context.Context, msg jsonrpc.Message) (resp *jsonrpc.Response, report func(), err error) {
	if s.closed.Load() {
		return nil, nil, errSessionEnded
	}
	m, ok := msg.(*jsonrpc.Request)
	if !ok { // the client answers a server request (sampling, elicitation, roots)
		return nil, nil, s.forward(msg)
	}
	if _, known := clientMethods[m.Method]; !known {
		if !m.IsCall() {
			s.log.Debug("mcp client notification of an unknown method dropped", "method", m.Method)
			return nil, nil, nil
		}
		return errorReply(m.ID, jsonrpc.CodeMethodNotFound, fmt.Sprintf("Method not found: %q is not an MCP method this gateway relays.", m.Method), nil), nil, nil
	}
	if !m.IsCall() {
		return nil, nil, s.forward(m)
	}
	wait := make(chan *jsonrpc.Response, 1)
	fwd, reply := s.request(s.life, m, wait)
	if reply != nil {
		return reply, nil, nil
	}
	if hc, ok := s.up.(*httpConn); ok && hc.canPost() {
		return s.post(hc, fwd, wait)
	}
	_ = s.forward(fwd) // on failure, the calls in flight (this one too) were answered
	select {
	case r := <-wait:
		return r, nil, nil
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-s.done:
		r, err := s.waited(wait)
		return r, nil, err
	}
}

// post sends a call to a streamable HTTP server itself and judges the
// answer in this goroutine (see httpConn.call). The other messages of the
// call's stream are relayed as if read from the connection. Failures end
// the session as a failed write or a broken stream of the go-sdk's
// connection would, except a stream that ended without the answer and
// cannot be resumed: that fails this call only (CodeServerGone).
func (s *Session) post(hc *httpConn, fwd *jsonrpc.Request, wait chan *jsonrpc.Response) (*jsonrpc.Response, func(), error) {
	resp, err := hc.call(s.life, fwd, func(msg jsonrpc.Message) { _ = s.serverMessage(s.life, msg) })
	var de *directError
	if err != nil && (!errors.As(err, &de) || de.broken || !de.delivered || s.life.Err() != nil) {
		_ = s.upstreamFailed(s.life, err)
		s.Close()
		r, err := s.waited(wait)
		return r, nil, err
	}
	if err != nil {
		s.log.Warn("mcp call failed", "method", fwd.Method, "err", err)
		resp = errorReply(fwd.ID, CodeServerGone, serverGoneMessage, nil)
	}
	s.mu.Lock()
	p, ok := s.pending[resp.ID]
	if ok && p.wait == wait {
		delete(s.pending, resp.ID)
	}
	s.mu.Unlock()
	if !ok || p.wait != wait { // answered meanwhile (the connection failed)
		r, err := s.waited(wait)
		return r, nil, err
	}
	var held *Call
	p.report = func(c *Call) { held = c }
	out := s.answer(s.life, p, resp)
	if held == nil {
		return out, nil, nil
	}
	return out, func() { s.hooks.Done(held) }, nil
}

// waited is the answer a failure left in wait, if any.
func (s *Session) waited(wait chan *jsonrpc.Response) (*jsonrpc.Response, error) {
	select {
	case r := <-wait:
		return r, nil
	default:
		return nil, errSessionEnded
	}
}

// forward writes a client message upstream. When that fails the session
// ends as when the relay's loop cannot write: the calls in flight are
// answered with CodeServerGone first.
func (s *Session) forward(m jsonrpc.Message) error {
	if err := s.up.Write(s.life, m); err != nil {
		_ = s.upstreamFailed(s.life, err)
		s.Close()
		return errSessionEnded
	}
	return nil
}

func (s *Session) forget(id jsonrpc.ID) {
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
}

// errorReply is a JSON-RPC error response to id.
func errorReply(id jsonrpc.ID, code int64, msg string, data any) *jsonrpc.Response {
	we := &jsonrpc.Error{Code: code, Message: msg}
	if data != nil {
		we.Data, _ = json.Marshal(data)
	}
	return &jsonrpc.Response{ID: id, Error: we}
}

// request decides about a client call: forward it (possibly changed) or
// answer it here with an error. The server's answer goes to wait when it is
// set, else to the client queue.
func (s *Session) request(ctx context.Context, m *jsonrpc.Request, wait chan *jsonrpc.Response) (*jsonrpc.Request, *jsonrpc.Response) {
	p := pending{method: m.Method, wait: wait}
	if _, isList := listKinds[m.Method]; isList {
		var params struct {
			Cursor string `json:"cursor"`
		}
		_ = json.Unmarshal(m.Params, &params)
		p.paged = params.Cursor != ""
	}
	var kind bulwark.ToolKind
	var name string
	var args json.RawMessage // tools/call and prompts/get
	switch m.Method {
	case "tools/call", "prompts/get":
		kind = bulwark.KindTool
		if m.Method == "prompts/get" {
			kind = bulwark.KindPrompt
		}
		// Keys are matched exactly, as the server reads them: a "NAME" or
		// "Arguments" member is not the name or the arguments.
		p, err := members(m.Params)
		if err == nil {
			err = json.Unmarshal(p["name"], &name)
		}
		if err != nil || name == "" {
			if kind == bulwark.KindTool {
				return nil, errorReply(m.ID, jsonrpc.CodeInvalidParams, "tools/call needs params {name, arguments}", nil)
			}
			return nil, errorReply(m.ID, jsonrpc.CodeInvalidParams, "prompts/get needs params {name}", nil)
		}
		args = p["arguments"]
	case "resources/read":
		kind = bulwark.KindResource
		p, err := members(m.Params)
		if err == nil {
			err = json.Unmarshal(p["uri"], &name)
		}
		if err != nil || name == "" {
			return nil, errorReply(m.ID, jsonrpc.CodeInvalidParams, "resources/read needs params {uri}", nil)
		}
	}
	if kind != "" {
		call := &Call{Session: s.ID, Client: s.Client, Kind: kind, Name: name, Start: time.Now(), Verdict: bulwark.VerdictAllow}
		p.call = call
		if r := s.hooks.Check(ctx, kind, name, s.Client); r != nil {
			call.Verdict, call.Error = bulwark.VerdictDeny, r.Message
			s.reportTo(nil, call)
			return nil, errorReply(m.ID, r.Code, r.Message, map[string]any{"bulwark": map[string]any{"tool": name, "kind": kind}})
		}
		if m.Method == "tools/call" || m.Method == "prompts/get" {
			doc, err := newJSONDocAt(args, "arguments", bulwark.SurfaceToolArguments)
			if err == nil {
				err = s.hooks.Scan(ctx, bulwark.SurfaceToolArguments, doc, false, call)
			}
			if refusal := s.refuse(m.ID, call, err, nil); refusal != nil {
				return nil, refusal
			}
		}
	}
	s.mu.Lock()
	if _, dup := s.pending[m.ID]; dup {
		s.mu.Unlock()
		s.finish(p.call, bulwark.VerdictError, "duplicate request id")
		return nil, errorReply(m.ID, jsonrpc.CodeInvalidRequest, "a request with this id is already in flight", nil)
	}
	if len(s.pending) >= maxInFlight {
		s.mu.Unlock()
		s.finish(p.call, bulwark.VerdictError, "too many requests in flight")
		return nil, errorReply(m.ID, CodeServerGone, fmt.Sprintf("Too many requests in flight on this session (at most %d): wait for answers before sending more.", maxInFlight), nil)
	}
	s.pending[m.ID] = p
	s.mu.Unlock()
	return m, nil
}

// finish reports a call that ends before reaching the server.
func (s *Session) finish(call *Call, v bulwark.Verdict, why string) {
	if call == nil {
		return
	}
	call.Verdict, call.Error = v, why
	call.Duration = time.Since(call.Start)
	s.reportTo(nil, call)
}

// reportTo reports a finished call: to report when it is set (the caller
// reports it after sending the answer), else to the session's report, else
// to the hooks.
func (s *Session) reportTo(report func(*Call), call *Call) {
	switch {
	case report != nil:
		report(call)
	case s.report != nil:
		s.report(call)
	default:
		s.hooks.Done(call)
	}
}

// refuse turns a scan outcome into an error reply, or nil to go on.
func (s *Session) refuse(id jsonrpc.ID, call *Call, err error, report func(*Call)) *jsonrpc.Response {
	if err == nil {
		return nil
	}
	var b *inspect.Block
	if errors.As(err, &b) {
		call.Verdict, call.RuleID = bulwark.VerdictBlock, b.RuleID
		s.reportTo(report, call)
		return errorReply(id, CodePolicyViolation, b.Message, map[string]any{"bulwark": map[string]any{"rule_id": b.RuleID, "tool": call.Name}})
	}
	call.Verdict, call.Error = bulwark.VerdictError, err.Error()
	s.reportTo(report, call)
	s.log.Error("mcp inspection failed", "session", s.ID, "tool", call.Name, "err", err)
	return errorReply(id, CodeGatewayError, "The gateway could not inspect this message, so it was not passed on.", nil)
}

// fromServer relays server → client, filtering listings and inspecting results.
func (s *Session) fromServer(ctx context.Context) error {
	for {
		msg, err := s.up.Read(ctx)
		if err != nil {
			return s.upstreamFailed(ctx, err)
		}
		if err := s.serverMessage(ctx, msg); err != nil {
			return err
		}
	}
}

// serverMessage relays one message from the server.
func (s *Session) serverMessage(ctx context.Context, msg jsonrpc.Message) error {
	switch m := msg.(type) {
	case *jsonrpc.Response:
		out, wait := s.response(ctx, m)
		if out == nil {
			return nil
		}
		if wait != nil {
			wait <- out // buffered for the one answer
			return nil
		}
		return s.send(ctx, out)
	case *jsonrpc.Request:
		if !m.IsCall() {
			if m.Method == "notifications/tools/list_changed" {
				// Learn the new list now, so a change is caught (and
				// quarantined) even if the client never lists again.
				s.relist(ctx, "tools/list")
			}
			// A notification is dropped rather than waited for when
			// the client is behind: a flood must not hold up answers.
			s.notify(m)
			return nil
		}
		s.log.Debug("mcp server request", "method", m.Method)
		return s.send(ctx, m)
	}
	return nil
}

// upstreamFailed handles a failed read from or write to the server: unless
// the session is already closing, every call still in flight is answered
// with a JSON-RPC error (CodeServerGone), so no client waits for an answer
// that cannot come, and the answers are given a moment to reach the client
// before the session closes. It returns err.
func (s *Session) upstreamFailed(ctx context.Context, err error) error {
	if s.closed.Load() || ctx.Err() != nil {
		return err
	}
	s.mu.Lock()
	var ids []jsonrpc.ID
	var calls []*Call
	answered := 0
	for id, p := range s.pending {
		if strings.HasSuffix(p.method, "#own") {
			continue
		}
		if p.wait != nil { // buffered for the one answer, taken off pending here
			p.wait <- errorReply(id, CodeServerGone, serverGoneMessage, nil)
			answered++
		} else {
			ids = append(ids, id)
		}
		if p.call != nil {
			calls = append(calls, p.call)
		}
	}
	s.pending = map[jsonrpc.ID]pending{}
	s.mu.Unlock()
	if n := len(ids) + answered; n > 0 {
		s.log.Warn("mcp server connection failed; answering the calls in flight", "calls", n, "err", err)
	}
	for _, c := range calls {
		s.finish(c, bulwark.VerdictError, serverGoneMessage)
	}
	wctx, cancel := context.WithTimeout(ctx, drainTimeout)
	defer cancel()
	for _, id := range ids {
		if s.send(wctx, errorReply(id, CodeServerGone, serverGoneMessage, nil)) != nil {
			return err
		}
	}
	if len(ids) > 0 {
		s.flush(wctx)
	}
	return err
}

// relist sends the gateway's own listing request upstream.
// A server flooding list_changed gets one listing at a time: a new one
// starts when the previous was answered or is older than relistTimeout.
func (s *Session) relist(ctx context.Context, method string) {
	now := time.Now().UnixNano()
	if prev := s.relisting.Load(); prev != 0 && now-prev < int64(relistTimeout) || !s.relisting.CompareAndSwap(prev, now) {
		return
	}
	id, _ := jsonrpc.MakeID(fmt.Sprintf("bulwark-relist-%d", s.ownSeq.Add(1)))
	s.mu.Lock()
	s.pending[id] = pending{method: method + "#own"}
	s.mu.Unlock()
	if err := s.up.Write(ctx, &jsonrpc.Request{ID: id, Method: method, Params: json.RawMessage(`{}`)}); err != nil {
		s.forget(id)
		s.relisting.Store(0)
	}
}

var listKinds = map[string]struct {
	kind  bulwark.ToolKind
	field string
}{
	"tools/list":               {bulwark.KindTool, "tools"},
	"prompts/list":             {bulwark.KindPrompt, "prompts"},
	"resources/list":           {bulwark.KindResource, "resources"},
	"resources/templates/list": {bulwark.KindResource, "resourceTemplates"},
}

// response handles the server's answer to a request; nil means drop it.
// wait is where the answer goes when its request came through Call.
func (s *Session) response(ctx context.Context, m *jsonrpc.Response) (out *jsonrpc.Response, wait chan *jsonrpc.Response) {
	s.mu.Lock()
	p, ok := s.pending[m.ID]
	delete(s.pending, m.ID)
	s.mu.Unlock()
	if !ok {
		return m, nil // not ours to judge (e.g. a late answer after a client cancel)
	}
	return s.answer(ctx, p, m), p.wait
}

// answer inspects the server's answer m to the request p.
func (s *Session) answer(ctx context.Context, p pending, m *jsonrpc.Response) *jsonrpc.Response {
	own := strings.HasSuffix(p.method, "#own")
	method := strings.TrimSuffix(p.method, "#own")
	if own {
		s.relisting.Store(0)
	}
	if m.Error != nil {
		if p.call != nil {
			p.call.Verdict, p.call.Error = bulwark.VerdictError, m.Error.Error()
			p.call.Duration = time.Since(p.call.Start)
			s.reportTo(p.report, p.call)
		}
		if own {
			return nil
		}
		return m
	}
	if lk, isList := listKinds[method]; isList {
		out, err := s.filterListing(ctx, lk.kind, lk.field, m.Result, !p.paged && method != "resources/templates/list" && lk.kind != bulwark.KindResource)
		if own {
			return nil
		}
		if err != nil {
			s.log.Error("mcp listing could not be checked", "session", s.ID, "method", method, "err", err)
			return errorReply(m.ID, CodeGatewayError, "The gateway could not check the server's "+lk.field+", so none are offered.", nil)
		}
		return &jsonrpc.Response{ID: m.ID, Result: out}
	}
	switch method {
	case "initialize":
		var res struct {
			Instructions string `json:"instructions"`
		}
		if json.Unmarshal(m.Result, &res) == nil && res.Instructions != "" {
			s.hooks.Instructions(ctx, res.Instructions)
		}
		return m
	case "tools/call", "prompts/get", "resources/read":
		call := p.call
		doc, err := newJSONDoc(m.Result, "", bulwark.SurfaceToolResult)
		if err == nil {
			err = s.hooks.Scan(ctx, bulwark.SurfaceToolResult, doc, true, call)
		}
		call.Duration = time.Since(call.Start)
		if refusal := s.refuse(m.ID, call, err, p.report); refusal != nil {
			return refusal
		}
		s.reportTo(p.report, call)
		if doc.Modified() {
			b, err := doc.Encode()
			if err != nil {
				return errorReply(m.ID, CodeGatewayError, "The gateway could not re-encode the result.", nil)
			}
			return &jsonrpc.Response{ID: m.ID, Result: b}
		}
		return m
	}
	return m
}

// filterListing reconciles a listing and keeps the items the client may see.
// complete says the listing is the server's whole list (a first page
// without a next cursor), so tools missing from it were removed; a page, or
// a resource listing (resources and templates share a kind), is not.
func (s *Session) filterListing(ctx context.Context, kind bulwark.ToolKind, field string, result json.RawMessage, complete bool) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(result, &obj); err != nil {
		return nil, fmt.Errorf("listing is not a JSON object: %w", err)
	}
	if obj == nil { // "result": null
		return nil, errors.New("listing is not a JSON object: null")
	}
	var items []json.RawMessage
	if raw, ok := obj[field]; ok {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("%s is not an array: %w", field, err)
		}
	}
	if c, _ := obj["nextCursor"]; len(c) > 0 && string(c) != "null" && string(c) != `""` {
		complete = false
	}
	visible, err := s.hooks.Listed(ctx, kind, items, complete, s.Client)
	if err != nil {
		return nil, err
	}
	kept := make([]json.RawMessage, 0, len(items))
	for _, it := range items {
		if visible[itemName(kind, it)] {
			kept = append(kept, it)
		}
	}
	b, err := marshalRaw(kept)
	if err != nil {
		return nil, err
	}
	obj[field] = b
	return marshalRaw(obj)
}

// marshalRaw encodes v without HTML escaping, so the members and items it
// passes through keep their characters (json.Marshal would rewrite & < >
// inside them as \u0026 \u003c \u003e).
func marshalRaw(v any) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// itemName is the name a listing item is approved under: a resource's URI
// (or URI template), otherwise its name.
func itemName(kind bulwark.ToolKind, item json.RawMessage) string {
	var v struct {
		Name        string `json:"name"`
		URI         string `json:"uri"`
		URITemplate string `json:"uriTemplate"`
	}
	_ = json.Unmarshal(item, &v)
	if kind == bulwark.KindResource {
		if v.URI != "" {
			return v.URI
		}
		return v.URITemplate
	}
	return v.Name
}
