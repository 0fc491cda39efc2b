// Package llm is a fake LLM upstream for tests, benchmarks and demos. It owns
// the client-visible wire formats of OpenAI Chat Completions, Responses and
// Models, Azure OpenAI chat completions and Anthropic Messages (plain JSON and
// SSE streams), including each provider's authentication and error bodies, so
// the gateway can be exercised end to end without a real provider.
//
// Replies are deterministic: by default "echo: " + the text of the last user
// message, split into Options.Chunks stream deltas. Request headers steer a
// single request:
//
//	X-Fake-Reply          reply text
//	X-Fake-Chunks         number of deltas the reply is split into
//	X-Fake-Delay-Ms       delay between stream events, in milliseconds
//	X-Fake-Cached-Tokens  cached prompt tokens reported in usage
//	X-Fake-Error          429 | 500 | 400 | garbage | hang | midstream | slow-headers:<ms>
//
// Token usage follows one rule for prompt and reply: every text piece counts
// ceil(runes/4) tokens (the "4 characters per token" rule of thumb), summed
// over system/instructions and all messages for the prompt (at least 1), and
// over the reply for the completion. Stream and non-stream answers to the
// same request therefore report the same usage.
//
// The midstream error aborts the connection with http.ErrAbortHandler, so it
// needs a real http.Server (httptest.NewServer), not a ResponseRecorder.
package llm

import (
	"bytes"
	"context"
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
)

// RecordLimit is how many requests Requests keeps (the most recent ones).
const RecordLimit = 100

// maxBody bounds what one request may send; real providers reject far
// smaller bodies, and a test double must not be a memory sink.
const maxBody = 32 << 20

// Options configures a Server. The zero value is a keyless echo server.
type Options struct {
	// APIKey, when set, must be presented the provider's way: OpenAI
	// "Authorization: Bearer K", Azure "api-key: K", Anthropic "x-api-key: K".
	APIKey string
	// Chunks is how many deltas a streamed reply is split into (default 8).
	Chunks int
	// ChunkDelay is waited between stream events (streams only).
	ChunkDelay time.Duration
	// Reply replaces echo mode for every request.
	Reply string
	// Models, when not empty, is the only models accepted and listed.
	Models []string
	// Error injects a failure into every request, like X-Fake-Error.
	// New panics on a value X-Fake-Error would reject.
	Error string
	// Logger receives one debug record per request (default: discard).
	Logger *slog.Logger
}

// Recorded is one request as the fake upstream received it.
type Recorded struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// Server is the fake upstream; it is an http.Handler safe for concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger
	seq  atomic.Uint64

	mu   sync.Mutex
	ring []Recorded
	next int // index the next record overwrites once ring is full
}

// New returns a Server. It panics when opts.Error is not a valid
// X-Fake-Error value: that is a bug in the test that configures it.
func New(opts Options) *Server {
	if opts.Chunks <= 0 {
		opts.Chunks = 8
	}
	if opts.ChunkDelay < 0 {
		opts.ChunkDelay = 0
	}
	if opts.Error != "" {
		if _, err := parseFault(opts.Error); err != nil {
			panic("fake/llm: Options.Error: " + err.Error())
		}
	}
	opts.Models = append([]string(nil), opts.Models...)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: opts, log: log}
}

// Requests returns copies of the last RecordLimit requests, oldest first.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Recorded, 0, len(s.ring))
	n := len(s.ring)
	for i := range n {
		r := s.ring[(s.next+i)%n]
		r.Header = r.Header.Clone()
		r.Body = bytes.Clone(r.Body)
		out = append(out, r)
	}
	return out
}

// Reset forgets the recorded requests.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring = nil
	s.next = 0
}

func (s *Server) record(r *http.Request, body []byte) {
	rec := Recorded{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ring) < RecordLimit {
		s.ring = append(s.ring, rec)
		return
	}
	s.ring[s.next] = rec
	s.next = (s.next + 1) % RecordLimit
}

// id returns a unique, deterministic-looking identifier with a provider prefix.
func (s *Server) id(prefix string) string {
	return fmt.Sprintf("%s%024x", prefix, s.seq.Add(1))
}

// endpoint is what a request path resolved to.
type endpoint int

const (
	epNotFound endpoint = iota
	epChat
	epResponses
	epModels
	epMessages
	epAzureChat
)

func route(r *http.Request) (endpoint, dialect, string) {
	p := r.URL.Path
	switch p {
	case "/v1/chat/completions":
		return methodOr(r, http.MethodPost, epChat), openAI, ""
	case "/v1/responses":
		return methodOr(r, http.MethodPost, epResponses), openAI, ""
	case "/v1/models":
		// Both providers serve this path; Anthropic clients always send
		// anthropic-version, OpenAI clients never do.
		d := openAI
		if r.Header.Get("anthropic-version") != "" {
			d = anthropic
		}
		return methodOr(r, http.MethodGet, epModels), d, ""
	case "/v1/messages":
		return methodOr(r, http.MethodPost, epMessages), anthropic, ""
	}
	if rest, ok := strings.CutPrefix(p, "/openai/deployments/"); ok {
		// Azure answers a missing api-version with its plain 404.
		dep, ok := strings.CutSuffix(rest, "/chat/completions")
		if ok && dep != "" && !strings.Contains(dep, "/") && r.URL.Query().Get("api-version") != "" {
			return methodOr(r, http.MethodPost, epAzureChat), azure, dep
		}
		return epNotFound, azure, ""
	}
	return epNotFound, openAI, ""
}

func methodOr(r *http.Request, method string, ep endpoint) endpoint {
	if r.Method != method {
		return epNotFound
	}
	return ep
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	start := time.Now()
	defer func() {
		s.log.Debug("fake llm request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
	}()
	w = sw

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	s.record(r, body)
	ep, d, deployment := route(r)
	d.setRequestID(w, s.id("req_"))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			d.invalid(w, http.StatusRequestEntityTooLarge, "Request body is too large.", "")
			return
		}
		return // the client went away while sending
	}
	if ep == epNotFound {
		d.notFound(w, r)
		return
	}
	if !s.authorized(w, r, d) {
		return
	}
	c, err := s.controls(r)
	if err != nil {
		d.invalid(w, http.StatusBadRequest, "fake-llm: "+err.Error(), "")
		return
	}
	if !s.inject(w, r, d, c) {
		return
	}
	switch ep {
	case epChat:
		s.chat(w, r, body, c, openAI, "")
	case epAzureChat:
		s.chat(w, r, body, c, azure, deployment)
	case epResponses:
		s.responses(w, r, body, c)
	case epModels:
		s.models(w, r, d, c)
	case epMessages:
		s.messages(w, r, body, c)
	}
}

// statusWriter remembers the status for the request log. Unwrap keeps
// http.ResponseController (Flush) working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// authorized checks credentials the way the provider does and writes its
// error when they are wrong.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request, d dialect) bool {
	key := s.opts.APIKey
	switch d {
	case anthropic:
		if key != "" {
			got := r.Header.Get("x-api-key")
			if got == "" {
				d.write(w, http.StatusUnauthorized, "authentication_error", "x-api-key header is required", "", "")
				return false
			}
			if got != key {
				d.write(w, http.StatusUnauthorized, "authentication_error", "invalid x-api-key", "", "")
				return false
			}
		}
		// Anthropic rejects every request without a version, keyed or not.
		if r.Header.Get("anthropic-version") == "" {
			d.invalid(w, http.StatusBadRequest, "anthropic-version: header is required", "")
			return false
		}
	case azure:
		if key == "" {
			return true
		}
		got := r.Header.Get("api-key")
		if got == "" {
			got, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		}
		if got != key {
			d.write(w, http.StatusUnauthorized, "", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.", "", "401")
			return false
		}
	default:
		if key == "" {
			return true
		}
		auth := r.Header.Get("Authorization")
		got, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || got == "" {
			d.write(w, http.StatusUnauthorized, "invalid_request_error", "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.", "", "")
			return false
		}
		if got != key {
			d.write(w, http.StatusUnauthorized, "invalid_request_error", "Incorrect API key provided: "+maskKey(got)+". You can find your API key at https://platform.openai.com/account/api-keys.", "", "invalid_api_key")
			return false
		}
	}
	return true
}

// maskKey shows a key the way OpenAI does in its 401 message, so a test can
// tell which key arrived without the fake echoing a secret in full.
func maskKey(k string) string {
	if len(k) <= 8 {
		return strings.Repeat("*", len(k))
	}
	return k[:3] + strings.Repeat("*", len(k)-7) + k[len(k)-4:]
}

// fault is an injected failure.
type fault struct {
	kind string // "", "429", "500", "400", "garbage", "hang", "midstream", "slow-headers"
	wait time.Duration
}

func parseFault(v string) (fault, error) {
	v = strings.TrimSpace(v)
	switch v {
	case "", "429", "500", "400", "garbage", "hang", "midstream":
		return fault{kind: v}, nil
	}
	if ms, ok := strings.CutPrefix(v, "slow-headers:"); ok {
		n, err := strconv.Atoi(ms)
		if err != nil || n < 0 {
			return fault{}, fmt.Errorf("bad X-Fake-Error %q: slow-headers takes milliseconds", v)
		}
		return fault{kind: "slow-headers", wait: time.Duration(n) * time.Millisecond}, nil
	}
	return fault{}, fmt.Errorf("bad X-Fake-Error %q: want 429, 500, 400, garbage, hang, midstream or slow-headers:<ms>", v)
}

// controls are the per-request settings after header overrides.
type controls struct {
	reply    string
	hasReply bool
	chunks   int
	delay    time.Duration
	cached   int
	fault    fault
}

func (s *Server) controls(r *http.Request) (controls, error) {
	c := controls{reply: s.opts.Reply, hasReply: s.opts.Reply != "", chunks: s.opts.Chunks, delay: s.opts.ChunkDelay}
	if v := r.Header.Values("X-Fake-Reply"); len(v) > 0 {
		c.reply, c.hasReply = v[0], true
	}
	if v := r.Header.Get("X-Fake-Chunks"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return c, fmt.Errorf("bad X-Fake-Chunks %q: want a positive integer", v)
		}
		c.chunks = n
	}
	if v := r.Header.Get("X-Fake-Delay-Ms"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c, fmt.Errorf("bad X-Fake-Delay-Ms %q: want milliseconds", v)
		}
		c.delay = time.Duration(n) * time.Millisecond
	}
	if v := r.Header.Get("X-Fake-Cached-Tokens"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c, fmt.Errorf("bad X-Fake-Cached-Tokens %q: want a non-negative integer", v)
		}
		c.cached = n
	}
	fv := s.opts.Error
	if v := r.Header.Get("X-Fake-Error"); v != "" {
		fv = v
	}
	f, err := parseFault(fv)
	if err != nil {
		return c, err
	}
	c.fault = f
	return c, nil
}

// inject applies the faults that happen before the answer starts and
// reports whether the request should still be answered.
func (s *Server) inject(w http.ResponseWriter, r *http.Request, d dialect, c controls) bool {
	switch c.fault.kind {
	case "slow-headers":
		return sleep(r.Context(), c.fault.wait)
	case "hang":
		<-r.Context().Done()
		return false
	case "garbage":
		// A proxy or load balancer page where JSON was promised.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1></body></html>\n\x00\xff not json")
		return false
	case "429":
		d.rateLimited(w)
		return false
	case "500":
		d.serverError(w)
		return false
	case "400":
		d.invalid(w, http.StatusBadRequest, "Injected bad request (X-Fake-Error: 400).", "")
		return false
	}
	return true
}

// sleep waits for d or until ctx ends, and reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// knownModel reports whether model may be used (always, with no Models).
func (s *Server) knownModel(model string) bool {
	if len(s.opts.Models) == 0 {
		return true
	}
	for _, m := range s.opts.Models {
		if m == model {
			return true
		}
	}
	return false
}

// replyFor resolves the reply text: the override, or echo of lastUser.
func (c controls) replyFor(lastUser string) string {
	if c.hasReply {
		return c.reply
	}
	return "echo: " + lastUser
}
