// Package siem holds strict fake receivers for the HTTP integrations that
// cannot run here: a Standard Webhooks endpoint, a Slack incoming webhook, a
// Splunk HTTP Event Collector (with indexer acknowledgement), an
// Elasticsearch _bulk endpoint, PagerDuty Events v2, a Microsoft Teams
// Workflows trigger and a line receiver (QRadar/ArcSight-style CEF, LEEF or
// JSON lines over HTTP). Each is an http.Handler (serve it with httptest) that
// checks the auth header, content type, framing and body shape the real
// service requires, records what it accepted, and can be told to fail.
package siem

import (
	"net/http"
	"strconv"
	"sync"
)

// Fault is a failure a receiver answers with instead of accepting.
type Fault int

// Faults.
const (
	// Throttle answers 429 with Retry-After (RetryAfter seconds).
	Throttle Fault = iota + 1
	// ServerError answers 500.
	ServerError
	// BadRequest answers 400.
	BadRequest
	// Busy answers 503 (Splunk HEC's "Server is busy").
	Busy
	// Hang never answers: the request blocks until the client gives up or
	// the receiver is closed.
	Hang
)

// faults is the part every receiver shares: a queue of injected faults, the
// validation errors seen and a channel that releases hung requests.
type faults struct {
	mu         sync.Mutex
	queue      []Fault
	errs       []string
	requests   int
	retryAfter int
	closed     chan struct{}
	closeOnce  sync.Once
}

func newFaults() faults { return faults{closed: make(chan struct{}), retryAfter: 1} }

// Inject makes the next n requests fail with f, after any already queued.
func (f *faults) Inject(fault Fault, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.queue = append(f.queue, fault)
	}
}

// SetRetryAfter sets the Retry-After seconds Throttle sends (default 1).
func (f *faults) SetRetryAfter(secs int) {
	f.mu.Lock()
	f.retryAfter = secs
	f.mu.Unlock()
}

// Errors are the validation failures the receiver answered 400 to; a
// correct client produces none.
func (f *faults) Errors() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.errs...)
}

// Requests counts every request received, faults included.
func (f *faults) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// Close releases hung requests.
func (f *faults) Close() { f.closeOnce.Do(func() { close(f.closed) }) }

// next counts the request and pops the next fault, if any.
func (f *faults) next() (Fault, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if len(f.queue) == 0 {
		return 0, 0
	}
	x := f.queue[0]
	f.queue = f.queue[1:]
	return x, f.retryAfter
}

func (f *faults) reject(msg string) {
	f.mu.Lock()
	f.errs = append(f.errs, msg)
	f.mu.Unlock()
}

// inject answers an injected fault and reports whether it did; body writes
// the receiver's own error body for a status.
func (f *faults) inject(w http.ResponseWriter, r *http.Request, body func(w http.ResponseWriter, status int)) bool {
	fault, ra := f.next()
	switch fault {
	case Throttle:
		w.Header().Set("Retry-After", strconv.Itoa(ra))
		body(w, http.StatusTooManyRequests)
	case ServerError:
		body(w, http.StatusInternalServerError)
	case BadRequest:
		body(w, http.StatusBadRequest)
	case Busy:
		body(w, http.StatusServiceUnavailable)
	case Hang:
		select {
		case <-r.Context().Done():
		case <-f.closed:
		}
	default:
		return false
	}
	return true
}
