package bulwark

import (
	"context"
	"fmt"
	"time"
)

// DashboardRange is a time window the console's dashboard can show.
type DashboardRange string

// Dashboard windows and their bucket sizes: 24 hourly buckets, 28 six-hour
// buckets, 30 daily buckets.
const (
	Range24h DashboardRange = "24h"
	Range7d  DashboardRange = "7d"
	Range30d DashboardRange = "30d"
)

// Event types and actions the dashboard counts that later capabilities
// publish. Until they do, their counts are zero.
const (
	// EventRequest is the per-request summary event a proxy publishes.
	EventRequest EventType = "request"
	// ActionBlocked marks an event (request or alert) whose verdict was block.
	ActionBlocked = "blocked"
)

// Step is the bucket size of r, and how many buckets it has.
func (r DashboardRange) Step() (time.Duration, int, error) {
	switch r {
	case Range24h:
		return time.Hour, 24, nil
	case Range7d:
		return 6 * time.Hour, 28, nil
	case Range30d:
		return 24 * time.Hour, 30, nil
	}
	return 0, 0, ValidationError([]FieldError{{Field: "range", Message: fmt.Sprintf("must be 24h, 7d or 30d, not %q", string(r))}})
}

// Bounds returns the bucket boundaries of r ending with the bucket that
// contains now: len = buckets+1, bounds[i] <= bucket i < bounds[i+1]. Bucket
// starts are aligned to the step in UTC so that refreshes line up.
func (r DashboardRange) Bounds(now time.Time) ([]time.Time, error) {
	step, n, err := r.Step()
	if err != nil {
		return nil, err
	}
	end := now.UTC().Truncate(step).Add(step)
	b := make([]time.Time, n+1)
	for i := range b {
		b[i] = end.Add(-time.Duration(n-i) * step)
	}
	return b, nil
}

// EventCount is how many stored events of one type, severity and action
// fall into one time bucket.
type EventCount struct {
	Bucket   int // index into the bounds given to CountEvents
	Type     EventType
	Severity Severity
	Action   string
	Count    int64
}

// DashboardStore aggregates stored events for the dashboard.
type DashboardStore interface {
	// CountEvents counts the events with bounds[0] <= time < bounds[last],
	// grouped by bucket (bounds[i] <= time < bounds[i+1] is bucket i), type,
	// severity and action. Bounds must be strictly increasing, at least two
	// and at most MaxDashboardBuckets+1. Groups with no events are absent.
	CountEvents(ctx context.Context, bounds []time.Time) ([]EventCount, error)
}

// MaxDashboardBuckets bounds one CountEvents call.
const MaxDashboardBuckets = 100
