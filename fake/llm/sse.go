package llm

import (
	"context"
	"encoding/json"
	"net/http"
)

// sse writes Server-Sent Events, each flushed on its own so clients (and the
// gateway's stream inspection) see separate frames.
type sse struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	ctx   context.Context
	c     controls
	n     int // events written
	abort int // with the midstream fault: abort after this many events
	buf   []byte
}

func startSSE(w http.ResponseWriter, r *http.Request, c controls, abortAfter int) *sse {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	s := &sse{w: w, rc: http.NewResponseController(w), ctx: r.Context(), c: c}
	if c.fault.kind == "midstream" {
		s.abort = abortAfter
	}
	_ = s.rc.Flush() // headers out now, like a provider that has accepted the request
	return s
}

// event writes one event; name "" writes a data-only event (OpenAI chat).
// It reports false when the client is gone and streaming should stop.
func (s *sse) event(name string, v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	return s.data(name, b)
}

func (s *sse) data(name string, payload []byte) bool {
	if s.n > 0 && !sleep(s.ctx, s.c.delay) {
		return false
	}
	s.buf = s.buf[:0]
	if name != "" {
		s.buf = append(s.buf, "event: "...)
		s.buf = append(s.buf, name...)
		s.buf = append(s.buf, '\n')
	}
	s.buf = append(s.buf, "data: "...)
	s.buf = append(s.buf, payload...)
	s.buf = append(s.buf, "\n\n"...)
	if _, err := s.w.Write(s.buf); err != nil {
		return false
	}
	if err := s.rc.Flush(); err != nil {
		return false
	}
	s.n++
	if s.abort > 0 && s.n >= s.abort {
		// Drops the connection without the terminating chunk: the client
		// sees an unexpected EOF in the middle of the stream.
		panic(http.ErrAbortHandler)
	}
	return true
}

// abortBody writes the first half of a JSON body and drops the connection:
// the midstream fault for a non-streaming request.
func abortBody(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b[:len(b)/2])
	_ = http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

// respondJSON answers a non-streaming request, honouring the midstream fault.
func respondJSON(w http.ResponseWriter, c controls, v any) {
	if c.fault.kind == "midstream" {
		abortBody(w, http.StatusOK, v)
	}
	writeJSON(w, http.StatusOK, v)
}
