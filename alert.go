package bulwark

import (
	"context"
	"time"
)

// AlertStatus is where an alert is in the triage workflow.
type AlertStatus string

// Alert statuses. An alert starts new; see AlertStatus.CanBecome for the
// allowed moves.
const (
	AlertNew           AlertStatus = "new"
	AlertAcknowledged  AlertStatus = "acknowledged"
	AlertInProgress    AlertStatus = "in_progress"
	AlertResolved      AlertStatus = "resolved"
	AlertFalsePositive AlertStatus = "false_positive"
)

// AlertStatuses lists every status in workflow order.
var AlertStatuses = []AlertStatus{AlertNew, AlertAcknowledged, AlertInProgress, AlertResolved, AlertFalsePositive}

// Valid reports whether s is a known status.
func (s AlertStatus) Valid() bool { return s.step() > 0 }

func (s AlertStatus) step() int {
	switch s {
	case AlertNew:
		return 1
	case AlertAcknowledged:
		return 2
	case AlertInProgress:
		return 3
	case AlertResolved, AlertFalsePositive:
		return 4
	}
	return 0
}

// Closed reports whether s ends the workflow (resolved or false positive).
func (s AlertStatus) Closed() bool { return s.step() == 4 }

// CanBecome reports whether an alert in status s may move to next:
//   - forward along new → acknowledged → in_progress → resolved | false_positive,
//     skipping steps if wanted (a new alert may be resolved at once);
//   - between resolved and false_positive (the verdict was wrong);
//   - from resolved or false_positive back to in_progress (reopen).
//
// Every other move is refused, including to the current status and back to
// new: a status change always records a decision.
func (s AlertStatus) CanBecome(next AlertStatus) bool {
	if !s.Valid() || !next.Valid() || s == next || next == AlertNew {
		return false
	}
	if s.Closed() {
		return next == AlertInProgress || next.Closed()
	}
	return next.step() > s.step()
}

// AlertNote is one remark on an alert.
type AlertNote struct {
	At   time.Time
	By   string
	Text string
}

// Alert is a security alert as the triage workflow sees it. It is derived
// from an event of type EventAlert when the event is stored, and shares the
// event's ID.
type Alert struct {
	ID          string // the event's ID
	Time        time.Time
	Severity    Severity
	Category    string
	Title       string
	Description string
	Action      Action // block, monitor, redact, or "" when none was taken
	User        string
	UserEmail   string
	Group       string
	SourceIP    string
	Proxy       string
	Target      string // model, tool or upstream the request was for
	Policy      string
	RuleID      string
	Evidence    string // masked excerpt, as published
	Status      AlertStatus
	StatusBy    string     // who set Status; "" while new
	StatusAt    *time.Time // when Status was set; nil while new
	Notes       []AlertNote
}

// AlertFilter selects alerts. Zero fields do not filter.
type AlertFilter struct {
	MinSeverity Severity
	Categories  []string
	Statuses    []AlertStatus
	Proxy       string
	RuleID      string
	Since       time.Time // at or after
	Until       time.Time // before
	Query       string    // substring of title, description, evidence, user, proxy or rule id (case-insensitive for ASCII)
	Sort        string    // one of AlertSorts; "" means newest first
	Limit       int
	Offset      int
}

// AlertSorts are the orders an alert listing can have: a column name for
// ascending, with a leading "-" for descending. Ties go newest first.
var AlertSorts = []string{"-time", "time", "-severity", "severity", "status", "-status", "category", "-category",
	"proxy", "-proxy"}

// AlertCounts are the numbers of alerts by status and by severity.
type AlertCounts struct {
	Total      int
	ByStatus   map[AlertStatus]int
	BySeverity map[Severity]int
}

// AlertStore keeps alerts. Alerts are created by EventStore.RecordEvent
// from events of type EventAlert, in the event's transaction.
type AlertStore interface {
	// ListAlerts returns the alerts matching f (notes not included) with the total.
	ListAlerts(ctx context.Context, f AlertFilter) (Page[Alert], error)
	// GetAlert returns the alert with its notes, oldest first.
	GetAlert(ctx context.Context, id string) (*Alert, error)
	// SetAlertStatus moves every alert in ids to status, set by by, in one
	// transaction, adding note (when not empty) to each. Unknown ids give
	// ErrNotFound and a move AlertStatus.CanBecome refuses gives a
	// CodeConflict *Error; then no alert is changed. It returns the alerts
	// as changed, in the order of ids.
	SetAlertStatus(ctx context.Context, ids []string, status AlertStatus, by, note string) ([]Alert, error)
	// AddAlertNote appends a note to the alert and returns it as stored.
	AddAlertNote(ctx context.Context, id, by, text string) (*AlertNote, error)
	// CountAlerts counts the alerts matching f (Sort, Limit and Offset are ignored).
	CountAlerts(ctx context.Context, f AlertFilter) (AlertCounts, error)
}
