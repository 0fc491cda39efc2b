package llm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/inspect"
	"github.com/bulwarkhq/bulwark/inspect/policy"
	"github.com/bulwarkhq/bulwark/usage"
)

// HandlerConfig is everything one LLM proxy's handler needs. The gateway
// builds it from the stored proxy.
type HandlerConfig struct {
	Proxy *bulwark.Proxy
	// Credential is the decrypted upstream credential, injected into every
	// upstream request in the provider's header. Empty: none is sent.
	Credential string
	Chain      *inspect.Chain
	// Response inspects answers; nil leaves them as the upstream sent them
	// (placeholders of redacted request data are still restored).
	Response  *policy.Stage
	Transport http.RoundTripper
	Timeout   time.Duration // one upstream exchange, headers and body
	MaxBody   int64
	Prices    *usage.PriceTable
	Log       *slog.Logger
	// Done is called once per request after the client has its answer.
	Done func(x *inspect.Exchange, rec *bulwark.RequestRecord)
	// Tracer traces each request with a span per inspection stage (nil: no tracing).
	Tracer trace.Tracer
}

// Handler serves one LLM proxy: authenticate, inspect, forward, inspect
// the answer, record.
type Handler struct {
	c      HandlerConfig
	target *url.URL
}

// NewHandler returns the handler of one LLM proxy.
func NewHandler(c HandlerConfig) (*Handler, error) {
	u, err := url.Parse(c.Proxy.UpstreamURL)
	if err != nil {
		return nil, fmt.Errorf("upstream URL: %w", err)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Transport == nil {
		c.Transport = http.DefaultTransport
	}
	if c.MaxBody <= 0 {
		c.MaxBody = 10 << 20
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.Prices == nil {
		c.Prices = usage.Builtin()
	}
	if c.Tracer == nil {
		c.Tracer = noop.NewTracerProvider().Tracer("")
	}
	return &Handler{c: c, target: u}, nil
}

// maxResponseBody bounds a non-streamed answer the gateway reads to inspect.
const maxResponseBody = 64 << 20

// exchange is the state of one request through the handler.
type exchange struct {
	h          *Handler
	x          *inspect.Exchange
	rec        *bulwark.RequestRecord
	api        API
	req        *Request
	body       []byte
	mapping    map[string]string
	sentAt     time.Time
	headerAt   time.Time
	usage      Usage
	outText    strings.Builder
	failed     bool
	addedUsage bool // the gateway asked for stream usage the client did not
	// upstreamStatus is the upstream's status: an answer the gateway then
	// withheld was still produced, and paid for.
	upstreamStatus int
	ctx            context.Context
	span           trace.Span
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// credentialOf returns the gateway key a client sent: Authorization: Bearer
// (OpenAI SDKs), x-api-key (Anthropic SDKs) or api-key (Azure SDKs).
func credentialOf(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if k, ok := strings.CutPrefix(a, "Bearer "); ok {
			return strings.TrimSpace(k)
		}
		if k, ok := strings.CutPrefix(a, "bearer "); ok {
			return strings.TrimSpace(k)
		}
	}
	if k := r.Header.Get("X-Api-Key"); k != "" {
		return strings.TrimSpace(k)
	}
	return strings.TrimSpace(r.Header.Get("Api-Key"))
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	api := Classify(r.Method, r.URL.Path)
	x := &inspect.Exchange{
		RequestID:  newRequestID(),
		Start:      start,
		Proxy:      h.c.Proxy.Name,
		Protocol:   bulwark.ProtocolLLM,
		API:        string(api),
		Credential: credentialOf(r),
	}
	rec := &bulwark.RequestRecord{
		RequestID: x.RequestID, At: start.UTC(), Proxy: h.c.Proxy.Name, API: apiLabel(api), Path: r.URL.Path,
	}
	// The caller's trace context (traceparent) is the parent of the
	// gateway's span, and the span's context goes upstream.
	ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := h.c.Tracer.Start(ctx, "proxy "+h.c.Proxy.Name, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
	r = r.WithContext(ctx)
	ex := &exchange{h: h, x: x, rec: rec, api: api, ctx: ctx, span: span}
	w.Header().Set("X-Bulwark-Request-Id", x.RequestID)
	defer ex.finish(start)

	if err := ex.readRequest(w, r); err != nil {
		ex.refuse(w, err)
		return
	}
	if err := h.c.Chain.Request(ctx, x); err != nil {
		ex.refuse(w, err)
		return
	}
	if ex.req != nil {
		if x.Masker != nil {
			ex.mapping = maps(x.Masker.Mapping())
		}
		if x.SystemPrompt != "" {
			ex.req.InjectSystem(x.SystemPrompt)
		}
		if api == APIChat && ex.req.Stream {
			ex.addedUsage = ex.req.EnsureStreamUsage()
		}
		if ex.req.Modified() {
			b, err := ex.req.Encode()
			if err != nil {
				ex.refuse(w, fmt.Errorf("re-encode request: %w", err))
				return
			}
			ex.body = b
		}
	}
	ex.forward(w, r)
}

// maps copies the request's placeholder mapping: output redaction keeps
// adding to the masker, and only the client's own data is restored.
func maps(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func apiLabel(a API) string {
	switch a {
	case APIChat:
		return "chat"
	case APIResponses:
		return "responses"
	case APIMessages:
		return "messages"
	case APIModels:
		return "models"
	}
	return "other"
}

// httpError is a refusal with a status, decided before the chain runs.
type httpError struct {
	status  int
	errType string
	code    string
	msg     string
}

func (e *httpError) Error() string { return e.msg }

// readRequest reads the body within the limit and decodes the APIs the
// gateway inspects.
func (ex *exchange) readRequest(w http.ResponseWriter, r *http.Request) error {
	limit := ex.h.c.MaxBody
	if r.ContentLength > limit {
		return &httpError{http.StatusRequestEntityTooLarge, inspect.TypeInvalidRequest, "request_too_large",
			fmt.Sprintf("Request body of %d bytes is larger than this proxy's limit of %d bytes.", r.ContentLength, limit)}
	}
	if r.Body != nil && r.Body != http.NoBody {
		b, err := readBody(http.MaxBytesReader(w, r.Body, limit), r.ContentLength)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &httpError{http.StatusRequestEntityTooLarge, inspect.TypeInvalidRequest, "request_too_large",
				fmt.Sprintf("Request body is larger than this proxy's limit of %d bytes.", limit)}
		}
		if err != nil {
			return &httpError{http.StatusBadRequest, inspect.TypeInvalidRequest, "body_unreadable", "The request body could not be read: " + err.Error()}
		}
		ex.body = b
	}
	switch ex.api {
	case APIChat, APIResponses, APIMessages:
	default:
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &httpError{http.StatusUnsupportedMediaType, inspect.TypeInvalidRequest, "unsupported_media_type",
				fmt.Sprintf("Content-Type must be application/json, got %q.", ct)}
		}
	}
	var opts []ParseOption
	if d, ok := AzureDeployment(r.URL.Path); ok {
		opts = append(opts, WithDefaultModel(d))
	}
	req, err := ParseRequest(ex.api, ex.body, opts...)
	if err != nil {
		return &httpError{http.StatusBadRequest, inspect.TypeInvalidRequest, "invalid_request", err.Error()}
	}
	ex.req = req
	ex.x.Model, ex.x.Stream = req.Model, req.Stream
	ex.rec.Model, ex.rec.Stream = req.Model, req.Stream
	ex.x.Request = requestDoc{req}
	var n int
	for _, p := range req.Parts {
		n += len(p.Text)
	}
	ex.x.EstimatedInputTokens = int64(n/4 + 1)
	return nil
}

// requestDoc adapts a Request to inspect.Doc.
type requestDoc struct{ r *Request }

func (d requestDoc) Len() int { return len(d.r.Parts) }
func (d requestDoc) Part(i int) (string, bulwark.Surface, string) {
	p := &d.r.Parts[i]
	return p.Path, p.Surface, p.Text
}
func (d requestDoc) SetText(i int, s string) { d.r.SetText(i, s) }

// responseDoc adapts a Response to inspect.Doc.
type responseDoc struct{ r *Response }

func (d responseDoc) Len() int { return len(d.r.Parts) }
func (d responseDoc) Part(i int) (string, bulwark.Surface, string) {
	p := &d.r.Parts[i]
	return p.Path, p.Surface, p.Text
}
func (d responseDoc) SetText(i int, s string) { d.r.SetText(i, s) }

// refuse answers a refused or failed request in the client's protocol.
func (ex *exchange) refuse(w http.ResponseWriter, err error) {
	var b *inspect.Block
	var he *httpError
	status, errType, code, msg := http.StatusInternalServerError, "api_error", "gateway_error",
		"The gateway could not inspect this request, so it was not forwarded. Try again; if it persists, check the gateway log for request id "+ex.x.RequestID+"."
	switch {
	case errors.As(err, &b):
		status, errType, code, msg = b.Status, b.Type, b.Code, b.Message
		if b.RuleID != "" {
			ex.rec.RuleID = b.RuleID
		}
	case errors.As(err, &he):
		status, errType, code, msg = he.status, he.errType, he.code, he.msg
		ex.x.Verdict = bulwark.VerdictError
		ex.rec.Error = he.msg
	default:
		ex.x.Verdict = bulwark.VerdictError
		ex.rec.Error = err.Error()
		ex.h.c.Log.Error("request failed in the gateway", "request_id", ex.x.RequestID, "err", err)
	}
	for k, v := range ex.x.Headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Server-Timing", ex.serverTiming(time.Since(ex.x.Start), 0))
	w.WriteHeader(status)
	_, _ = w.Write(ErrorBody(ex.api, status, errType, code, msg))
	ex.rec.Status = status
}

// serverTiming reports the gateway's own time and the stages', so clients
// can see what the gateway adds without a tracing system.
func (ex *exchange) serverTiming(gateway, upstream time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "gateway;dur=%.3f", float64(gateway.Microseconds())/1000)
	if upstream > 0 {
		fmt.Fprintf(&b, ", upstream;dur=%.3f", float64(upstream.Microseconds())/1000)
	}
	for _, t := range ex.x.Timings {
		fmt.Fprintf(&b, ", %s;dur=%.3f", t.Stage, float64(t.Duration.Microseconds())/1000)
	}
	return b.String()
}

type ctxKey struct{}

// forward sends the request upstream through a ReverseProxy whose response
// hook inspects the answer.
func (ex *exchange) forward(w http.ResponseWriter, r *http.Request) {
	h := ex.h
	ctx, cancel := context.WithTimeout(r.Context(), h.c.Timeout)
	defer cancel()
	rp := &httputil.ReverseProxy{
		Rewrite:        ex.rewrite,
		Transport:      h.c.Transport,
		FlushInterval:  -1,
		ModifyResponse: ex.modifyResponse,
		ErrorHandler:   ex.upstreamError,
		ErrorLog:       nil,
	}
	ex.sentAt = time.Now()
	rp.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ctxKey{}, ex)))
}

func (ex *exchange) rewrite(pr *httputil.ProxyRequest) {
	h := ex.h
	pr.SetURL(h.target)
	out := pr.Out
	// The client's gateway key never goes upstream; the stored provider
	// credential does.
	out.Header.Del("Authorization")
	out.Header.Del("X-Api-Key")
	out.Header.Del("Api-Key")
	out.Header.Del("Cookie")
	if c := h.c.Credential; c != "" {
		switch h.c.Proxy.Provider {
		case bulwark.ProviderAnthropic:
			out.Header.Set("X-Api-Key", c)
		case bulwark.ProviderAzure:
			out.Header.Set("Api-Key", c)
		default:
			out.Header.Set("Authorization", "Bearer "+c)
		}
	}
	otel.GetTextMapPropagator().Inject(ex.ctx, propagation.HeaderCarrier(out.Header))
	if ex.req != nil {
		// The answer is inspected: let the transport negotiate (and undo)
		// compression rather than pass the client's Accept-Encoding on.
		out.Header.Del("Accept-Encoding")
	}
	if ex.body != nil {
		out.Body = io.NopCloser(bytes.NewReader(ex.body))
		out.ContentLength = int64(len(ex.body))
		out.Header.Set("Content-Length", strconv.Itoa(len(ex.body)))
		body := ex.body
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
}

func (ex *exchange) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	ex.failed = true
	ex.x.Verdict = bulwark.VerdictError
	status, code, msg := http.StatusBadGateway, "upstream_error", "The upstream could not be reached or failed: "+err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		status, code, msg = http.StatusGatewayTimeout, "upstream_timeout",
			fmt.Sprintf("The upstream did not answer within %s.", ex.h.c.Timeout)
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		status, code, msg = 499, "client_closed", "The client closed the request."
	}
	ex.rec.Error = msg
	ex.rec.Status = status
	if status == 499 {
		return
	}
	var b *inspect.Block
	if errors.As(err, &b) {
		// A response-phase block of a non-streamed answer.
		ex.failed = false
		ex.x.Verdict = bulwark.VerdictBlock
		ex.x.Blocked = b
		ex.rec.Error = ""
		ex.rec.RuleID = b.RuleID
		ex.refuse(w, b)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(ErrorBody(ex.api, status, "api_error", code, msg))
}

// modifyResponse inspects the upstream's answer: errors pass through
// unchanged, streams are wrapped event by event, whole answers are scanned,
// redacted and un-masked here.
func (ex *exchange) modifyResponse(resp *http.Response) error {
	ex.headerAt = time.Now()
	ex.upstreamStatus = resp.StatusCode
	ex.rec.Status = resp.StatusCode
	for k, v := range ex.x.Headers {
		resp.Header.Set(k, v)
	}
	resp.Header.Set("Server-Timing", ex.serverTiming(ex.sentAt.Sub(ex.x.Start), ex.headerAt.Sub(ex.sentAt)))
	if ex.req == nil || resp.StatusCode >= 300 {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch mt {
	case "text/event-stream":
		resp.Body = newStreamInspector(ex, resp.Body)
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
		return nil
	case "application/json", "":
		return ex.inspectBody(resp)
	}
	return nil
}

// preallocMax bounds what readBody reserves before data arrives.
const preallocMax = 1 << 20

// readBody reads r to the end into one buffer sized from the declared
// length (size < 0: unknown), instead of io.ReadAll's doubling copies.
func readBody(r io.Reader, size int64) ([]byte, error) {
	if size < 0 {
		return io.ReadAll(r)
	}
	// One spare byte so the read that sees EOF needs no growth. A declared
	// length is only a claim: beyond preallocMax the buffer grows with the
	// data actually received, so a client cannot make the gateway reserve
	// its whole body limit with a header.
	b := make([]byte, 0, min(size, preallocMax)+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // the length was wrong: grow as append does
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

func (ex *exchange) inspectBody(resp *http.Response) error {
	b, err := readBody(io.LimitReader(resp.Body, maxResponseBody+1), min(resp.ContentLength, maxResponseBody+1))
	_ = resp.Body.Close()
	if err != nil {
		return fmt.Errorf("read upstream answer: %w", err)
	}
	if len(b) > maxResponseBody {
		return fmt.Errorf("upstream answer larger than %d bytes", maxResponseBody)
	}
	out := b
	res, perr := ParseResponse(ex.api, b)
	if perr != nil {
		// Not an answer the gateway understands: if nothing needs restoring
		// or scanning, pass it on as it is; otherwise refuse rather than
		// leak a placeholder's absence or unscanned content.
		if ex.h.c.Response != nil || len(ex.mapping) > 0 {
			return fmt.Errorf("the upstream answer is not valid %s JSON: %w", ex.api, perr)
		}
	} else {
		ex.usage = res.Usage
		if res.Model != "" && ex.rec.Model == "" {
			ex.rec.Model = res.Model
		}
		for _, p := range res.Parts {
			if ex.outText.Len() < 1<<20 {
				ex.outText.WriteString(p.Text)
			}
		}
		doc := responseDoc{res}
		if ex.h.c.Response != nil {
			if err := ex.h.c.Response.Response(ex.ctx, ex.x, doc, ex.mapping); err != nil {
				return err
			}
		} else if len(ex.mapping) > 0 {
			unmaskDoc(doc, ex.mapping)
		}
		if res.Modified() {
			if out, err = res.Encode(); err != nil {
				return fmt.Errorf("re-encode answer: %w", err)
			}
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	resp.Header.Del("Content-Encoding")
	return nil
}

func unmaskDoc(d inspect.Doc, mapping map[string]string) {
	for i, n := 0, d.Len(); i < n; i++ {
		_, _, t := d.Part(i)
		if u := unmask(t, mapping); u != t {
			d.SetText(i, u)
		}
	}
}

// finish computes usage and cost and reports the request.
func (ex *exchange) finish(start time.Time) {
	end := time.Now()
	rec, x := ex.rec, ex.x
	rec.LatencyMs = float64(end.Sub(start).Microseconds()) / 1000
	if !ex.sentAt.IsZero() {
		upEnd := ex.headerAt
		if upEnd.IsZero() {
			upEnd = end
		}
		rec.UpstreamMs = float64(upEnd.Sub(ex.sentAt).Microseconds()) / 1000
	}
	if x.Verdict == "" {
		x.Verdict = bulwark.VerdictAllow
	}
	if rec.Status == 0 {
		rec.Status = http.StatusOK
	}
	if rec.Status >= 500 && x.Verdict != bulwark.VerdictBlock {
		x.Verdict = bulwark.VerdictError
	}
	rec.Verdict = x.Verdict
	rec.Findings = len(x.Findings)
	if rec.RuleID == "" && len(x.Findings) > 0 {
		rec.RuleID = x.Findings[0].RuleID
	}
	if x.Group != nil {
		rec.GroupID, rec.Group = x.Group.ID, x.Group.Name
	}
	if x.Key != nil {
		rec.KeyID = x.Key.ID
		rec.User = x.Key.User
		if rec.User == "" {
			rec.User = x.Key.Name
		}
	}
	answered := !ex.headerAt.IsZero() && ex.upstreamStatus < 400
	if answered && ex.req != nil {
		tok := ex.tokens()
		rec.InputTokens, rec.OutputTokens = tok.Input, tok.Output
		rec.CacheReadTokens, rec.CacheWriteTokens = tok.CacheRead, tok.CacheWrite
		rec.CostUSD, rec.Priced = ex.h.c.Prices.CostOf(rec.Model, tok)
	}
	ex.endSpans(end)
	x.Finish(inspect.Outcome{
		InputTokens: rec.InputTokens + rec.CacheReadTokens + rec.CacheWriteTokens, OutputTokens: rec.OutputTokens,
		CostUSD: rec.CostUSD, Priced: rec.Priced, Failed: ex.failed,
	})
	if ex.h.c.Done != nil {
		ex.h.c.Done(x, rec)
	}
}

// tokens are the provider's usage, normalised, or an estimate by the
// embedded tokenizer when the provider reported none.
func (ex *exchange) tokens() usage.Tokens {
	u := ex.usage
	if u.Present {
		if ex.api == APIMessages {
			return usage.NormalizeAnthropic(u.InputTokens, u.OutputTokens, u.CachedTokens, u.CacheWriteTokens)
		}
		return usage.NormalizeOpenAI(u.InputTokens, u.OutputTokens, u.CachedTokens)
	}
	ex.rec.TokensEstimated = true
	texts := make([]string, 0, len(ex.req.Parts)+1)
	for _, p := range ex.req.Parts {
		texts = append(texts, p.Text)
	}
	if ex.x.SystemPrompt != "" {
		texts = append(texts, ex.x.SystemPrompt)
	}
	return usage.Tokens{
		Input:  int64(usage.EstimateChat(ex.rec.Model, texts)),
		Output: int64(usage.CountTokens(ex.rec.Model, ex.outText.String())),
	}
}

// endSpans records the request span with a child span per inspection
// stage, from the timings the chain measured (so tracing adds nothing to
// the stages themselves).
func (ex *exchange) endSpans(end time.Time) {
	span := ex.span
	if span == nil || !span.IsRecording() {
		return
	}
	tr := ex.h.c.Tracer
	t := ex.x.Start
	for _, st := range ex.x.Timings {
		_, s := tr.Start(ex.ctx, "inspect "+st.Stage, trace.WithTimestamp(t))
		t = t.Add(st.Duration)
		s.End(trace.WithTimestamp(t))
	}
	if !ex.sentAt.IsZero() {
		_, s := tr.Start(ex.ctx, "upstream", trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(ex.sentAt))
		s.SetAttributes(attribute.Int("http.response.status_code", ex.rec.Status))
		s.End(trace.WithTimestamp(end))
	}
	span.SetAttributes(
		attribute.String("bulwark.proxy", ex.rec.Proxy),
		attribute.String("bulwark.request_id", ex.rec.RequestID),
		attribute.String("bulwark.api", ex.rec.API),
		attribute.String("bulwark.verdict", string(ex.x.Verdict)),
		attribute.String("gen_ai.request.model", ex.rec.Model),
		attribute.Int("http.response.status_code", ex.rec.Status),
		attribute.Int("bulwark.findings", len(ex.x.Findings)),
	)
	if ex.rec.RuleID != "" {
		span.SetAttributes(attribute.String("bulwark.rule_id", ex.rec.RuleID))
	}
	if ex.rec.Group != "" {
		span.SetAttributes(attribute.String("bulwark.group", ex.rec.Group))
	}
	if ex.rec.Status >= 500 {
		span.SetStatus(codes.Error, ex.rec.Error)
	}
	span.End(trace.WithTimestamp(end))
}
