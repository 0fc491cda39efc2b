package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwarkhq/bulwark"
)

// Sink delivers events to one destination (a SIEM, Slack, e-mail, a
// webhook…). Implementations live in events/sink/…; the dispatcher calls
// Deliver with batches read from the outbox, never on a publisher's
// goroutine.
type Sink interface {
	// Name is the integration's unique name, the outbox's sink column.
	Name() string
	// MaxBatch is how many events one Deliver may carry (1 when the target
	// has no batch format).
	MaxBatch() int
	// Deliver sends the events. A nil error means all were accepted. A
	// *DeliveryError says whether to retry and when; any other error is
	// treated as a retryable network failure.
	Deliver(ctx context.Context, evs []bulwark.Event) error
}

// DeliveryError is a failed delivery with the sink's judgement of it.
type DeliveryError struct {
	// Permanent failures (a 4xx other than 408 and 429: bad credentials, a
	// rejected body) go to the dead-letter list instead of being retried.
	Permanent bool
	// RetryAfter is the receiver's Retry-After, when it sent one.
	RetryAfter time.Duration
	// Status is the HTTP status (0 for other transports).
	Status int
	Err    error
}

func (e *DeliveryError) Error() string {
	kind := "retryable"
	if e.Permanent {
		kind = "permanent"
	}
	if e.Status != 0 {
		return fmt.Sprintf("%s delivery failure (HTTP %d): %v", kind, e.Status, e.Err)
	}
	return fmt.Sprintf("%s delivery failure: %v", kind, e.Err)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// HTTPFailure classifies an HTTP answer the way every HTTP sink should: 2xx
// is success (nil); 408, 429 and 5xx are retryable (with Retry-After when
// given); other statuses are permanent.
func HTTPFailure(status int, retryAfter time.Duration, detail string) error {
	if status >= 200 && status < 300 {
		return nil
	}
	err := &DeliveryError{Status: status, RetryAfter: retryAfter, Err: errors.New(detail)}
	if status != 408 && status != 429 && status < 500 {
		err.Permanent = true
	}
	return err
}

// Route is which events an integration receives: both filters must pass.
type Route struct {
	Sink string
	// Types it wants; empty means every type.
	Types []bulwark.EventType
	// MinSeverity drops less severe events ("" keeps all).
	MinSeverity bulwark.Severity
	// Categories of alerts it wants; empty means every category. Events
	// that are not alerts are not filtered by category.
	Categories []string
}

// Wants reports whether the route takes ev.
func (r Route) Wants(ev *bulwark.Event) bool {
	if len(r.Types) > 0 && !containsType(r.Types, ev.Type) {
		return false
	}
	if r.MinSeverity != "" && ev.Severity.Rank() < r.MinSeverity.Rank() {
		return false
	}
	if ev.Type == bulwark.EventAlert && len(r.Categories) > 0 {
		for _, c := range r.Categories {
			if c == ev.Category {
				return true
			}
		}
		return false
	}
	return true
}

func containsType(list []bulwark.EventType, t bulwark.EventType) bool {
	for _, x := range list {
		if x == t {
			return true
		}
	}
	return false
}
