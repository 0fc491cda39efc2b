// Package langfuse is a strict fake of Langfuse's ingestion API
// (POST /api/public/ingestion) for tests: it checks basic auth with the
// project's public and secret key, the JSON content type, the 3.5 MB batch
// limit and the shape of every event ({"id","timestamp","type","body"} of
// type trace-create, generation-create or span-create, with the body fields
// Bulwark sends and nothing unknown), answers 207 multi-status like
// Langfuse, keeps the traces and observations it accepted (upserted by body
// id, as Langfuse does) and can be told to fail whole calls or single
// events.
package langfuse

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// MaxBody is Langfuse's batch size limit.
const MaxBody = 3_500_000

// Fault is a failure the server answers a whole call with.
type Fault int

// Faults.
const (
	// Throttle answers 429 with Retry-After (1 second).
	Throttle Fault = iota + 1
	// ServerError answers 500.
	ServerError
	// Unavailable answers 503.
	Unavailable
)

// Trace is an accepted trace body.
type Trace struct {
	ID          string         `json:"id"`
	Timestamp   string         `json:"timestamp"`
	Name        string         `json:"name"`
	UserID      string         `json:"userId"`
	Environment string         `json:"environment"`
	Release     string         `json:"release"`
	Tags        []string       `json:"tags"`
	Metadata    map[string]any `json:"metadata"`
}

// Observation is an accepted generation or span body; Type is
// "GENERATION" or "SPAN".
type Observation struct {
	Type          string             `json:"-"`
	ID            string             `json:"id"`
	TraceID       string             `json:"traceId"`
	Name          string             `json:"name"`
	StartTime     string             `json:"startTime"`
	EndTime       string             `json:"endTime"`
	Environment   string             `json:"environment"`
	Model         string             `json:"model"`
	UsageDetails  map[string]int64   `json:"usageDetails"`
	CostDetails   map[string]float64 `json:"costDetails"`
	Level         string             `json:"level"`
	StatusMessage string             `json:"statusMessage"`
	Metadata      map[string]any     `json:"metadata"`
}

// Server is the fake. Serve it with httptest.NewServer.
type Server struct {
	publicKey, secretKey string

	mu           sync.Mutex
	faults       []Fault
	itemFailures []int // statuses for the next events, one each
	traces       map[string]Trace
	observations map[string]Observation
	traceOrder   []string
	accepted     int   // events accepted, duplicates included
	batches      []int // events per accepted call
	requests     int
	errs         []string
}

// New returns a server accepting the key pair.
func New(publicKey, secretKey string) *Server {
	return &Server{publicKey: publicKey, secretKey: secretKey, traces: map[string]Trace{}, observations: map[string]Observation{}}
}

// Inject makes the next n calls fail with f.
func (s *Server) Inject(f Fault, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, f)
	}
}

// FailEvents makes the next n events (in the order received) fail in the
// 207 answer with status (429 or 5xx: the client should send them again;
// 400: never).
func (s *Server) FailEvents(status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.itemFailures = append(s.itemFailures, status)
	}
}

// Traces are the accepted traces in the order first received.
func (s *Server) Traces() []Trace {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Trace, 0, len(s.traceOrder))
	for _, id := range s.traceOrder {
		out = append(out, s.traces[id])
	}
	return out
}

// Observation returns the accepted observation of a trace.
func (s *Server) Observation(traceID string) (Observation, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.observations {
		if o.TraceID == traceID {
			return o, true
		}
	}
	return Observation{}, false
}

// Accepted counts accepted events, re-sent ones included.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Batches are the sizes (events) of the accepted calls.
func (s *Server) Batches() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches)
}

// Requests counts every call, failed ones included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Errors are the validation failures seen; a correct client causes none.
func (s *Server) Errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errs)
}

func (s *Server) reject(msg string) {
	s.mu.Lock()
	s.errs = append(s.errs, msg)
	s.mu.Unlock()
}

func answer(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	var fault Fault
	if len(s.faults) > 0 {
		fault, s.faults = s.faults[0], s.faults[1:]
	}
	s.mu.Unlock()
	switch fault {
	case Throttle:
		w.Header().Set("Retry-After", "1")
		answer(w, http.StatusTooManyRequests, map[string]string{"message": "Rate limit exceeded"})
		return
	case ServerError:
		answer(w, http.StatusInternalServerError, map[string]string{"message": "Internal Server Error"})
		return
	case Unavailable:
		answer(w, http.StatusServiceUnavailable, map[string]string{"message": "Service Unavailable"})
		return
	}
	if r.URL.Path != "/api/public/ingestion" {
		s.reject("path " + r.URL.Path)
		answer(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	if r.Method != http.MethodPost {
		s.reject("method " + r.Method)
		answer(w, http.StatusMethodNotAllowed, map[string]string{"message": "Method not allowed"})
		return
	}
	if !s.authorized(r.Header.Get("Authorization")) {
		s.reject("bad or missing basic auth")
		answer(w, http.StatusUnauthorized, map[string]string{"error": "UnauthorizedError",
			"message": "Invalid credentials. Confirm that you've configured the correct host."})
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		s.reject("content-type " + r.Header.Get("Content-Type"))
		answer(w, http.StatusBadRequest, map[string]string{"message": "Invalid request data"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		answer(w, http.StatusBadRequest, map[string]string{"message": "Invalid request data"})
		return
	}
	if len(body) > MaxBody {
		s.reject("body over 3.5 MB")
		answer(w, http.StatusRequestEntityTooLarge, map[string]string{"message": "Request body too large"})
		return
	}
	var req struct {
		Batch    []json.RawMessage `json:"batch"`
		Metadata json.RawMessage   `json:"metadata"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Batch == nil {
		s.reject(fmt.Sprintf("request is not {\"batch\":[…]}: %v", err))
		answer(w, http.StatusBadRequest, map[string]any{"message": "Invalid request data", "errors": []string{"batch: Required"}})
		return
	}
	type success struct {
		ID     string `json:"id"`
		Status int    `json:"status"`
	}
	type failure struct {
		ID      string `json:"id"`
		Status  int    `json:"status"`
		Message string `json:"message,omitempty"`
		Error   string `json:"error,omitempty"`
	}
	res := struct {
		Successes []success `json:"successes"`
		Errors    []failure `json:"errors"`
	}{Successes: []success{}, Errors: []failure{}}
	seen := map[string]bool{}
	accepted := 0
	for n, raw := range req.Batch {
		id, apply, err := s.parse(raw)
		if err == nil && seen[id] {
			err = fmt.Errorf("event id %q repeated in one batch", id)
		}
		if err != nil {
			s.reject(fmt.Sprintf("event %d: %v", n, err))
			res.Errors = append(res.Errors, failure{ID: id, Status: 400, Message: "Invalid request data", Error: err.Error()})
			continue
		}
		seen[id] = true
		s.mu.Lock()
		status := 0
		if len(s.itemFailures) > 0 {
			status, s.itemFailures = s.itemFailures[0], s.itemFailures[1:]
		}
		if status == 0 {
			apply()
			s.accepted++
			accepted++
		}
		s.mu.Unlock()
		if status != 0 {
			res.Errors = append(res.Errors, failure{ID: id, Status: status, Message: http.StatusText(status)})
			continue
		}
		res.Successes = append(res.Successes, success{ID: id, Status: 201})
	}
	s.mu.Lock()
	s.batches = append(s.batches, accepted)
	s.mu.Unlock()
	answer(w, http.StatusMultiStatus, res)
}

func (s *Server) authorized(h string) bool {
	scheme, enc, ok := strings.Cut(h, " ")
	if !ok || scheme != "Basic" {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return false
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	return ok && user == s.publicKey && pass == s.secretKey
}

var hexID = regexp.MustCompile(`^[0-9a-f]+$`)

// parse checks one event strictly and returns its id and how to store it.
func (s *Server) parse(raw json.RawMessage) (string, func(), error) {
	var env struct {
		ID        string          `json:"id"`
		Timestamp string          `json:"timestamp"`
		Type      string          `json:"type"`
		Body      json.RawMessage `json:"body"`
		Metadata  json.RawMessage `json:"metadata"`
	}
	if err := strict(raw, &env); err != nil {
		return "", nil, fmt.Errorf("envelope: %w", err)
	}
	if env.ID == "" {
		return "", nil, fmt.Errorf("envelope id is required")
	}
	if _, err := time.Parse(time.RFC3339Nano, env.Timestamp); err != nil {
		return env.ID, nil, fmt.Errorf("timestamp %q is not ISO 8601", env.Timestamp)
	}
	if len(env.Body) == 0 || env.Body[0] != '{' {
		return env.ID, nil, fmt.Errorf("body must be an object")
	}
	switch env.Type {
	case "trace-create":
		var t Trace
		if err := strict(env.Body, &t); err != nil {
			return env.ID, nil, fmt.Errorf("trace body: %w", err)
		}
		if !hexID.MatchString(t.ID) || t.Name == "" {
			return env.ID, nil, fmt.Errorf("trace body needs an id and a name")
		}
		if _, err := time.Parse(time.RFC3339Nano, t.Timestamp); err != nil {
			return env.ID, nil, fmt.Errorf("trace timestamp %q is not ISO 8601", t.Timestamp)
		}
		return env.ID, func() {
			if _, ok := s.traces[t.ID]; !ok {
				s.traceOrder = append(s.traceOrder, t.ID)
			}
			s.traces[t.ID] = t
		}, nil
	case "generation-create", "span-create":
		var o Observation
		if err := strict(env.Body, &o); err != nil {
			return env.ID, nil, fmt.Errorf("%s body: %w", env.Type, err)
		}
		if o.ID == "" || o.TraceID == "" || o.Name == "" {
			return env.ID, nil, fmt.Errorf("%s body needs id, traceId and name", env.Type)
		}
		for _, ts := range []string{o.StartTime, o.EndTime} {
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
				return env.ID, nil, fmt.Errorf("%s time %q is not ISO 8601", env.Type, ts)
			}
		}
		if !slices.Contains([]string{"DEBUG", "DEFAULT", "WARNING", "ERROR"}, o.Level) {
			return env.ID, nil, fmt.Errorf("level %q is not DEBUG, DEFAULT, WARNING or ERROR", o.Level)
		}
		for k, v := range o.UsageDetails {
			if v < 0 {
				return env.ID, nil, fmt.Errorf("usageDetails.%s is negative", k)
			}
		}
		o.Type = "GENERATION"
		if env.Type == "span-create" {
			o.Type = "SPAN"
			if o.Model != "" || o.UsageDetails != nil || o.CostDetails != nil {
				return env.ID, nil, fmt.Errorf("a span has no model, usage or cost")
			}
		}
		return env.ID, func() { s.observations[o.ID] = o }, nil
	default:
		return env.ID, nil, fmt.Errorf("type %q is not one this fake takes (trace-create, generation-create, span-create)", env.Type)
	}
}

// strict decodes one JSON object rejecting unknown fields: Langfuse drops
// unknown keys silently, so a misspelt one would be lost without a trace.
func strict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}
