package bulwark

import (
	"encoding/json"
	"time"
)

// Severity grades events and alerts.
type Severity string

// Severities, most severe first.
const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
	SeverityLow      Severity = "low"
	SeverityInfo     Severity = "info"
)

// Valid reports whether s is a known severity.
func (s Severity) Valid() bool { return s.Rank() > 0 }

// Rank orders severities: critical 5 … info 1, unknown 0.
func (s Severity) Rank() int {
	switch s {
	case SeverityCritical:
		return 5
	case SeverityHigh:
		return 4
	case SeverityMedium:
		return 3
	case SeverityLow:
		return 2
	case SeverityInfo:
		return 1
	}
	return 0
}

// EventType is the class of an event; integrations subscribe by class.
type EventType string

// Event classes.
const (
	EventAlert             EventType = "alert"              // security alerts from the inspection chain
	EventProxyStatus       EventType = "proxy_status"       // proxy started, stopped, failed
	EventAuth              EventType = "auth"               // logins, failures, logouts
	EventConfig            EventType = "config"             // users, tokens, settings, policies changed
	EventSystem            EventType = "system"             // start, stop, backup
	EventIntegrationHealth EventType = "integration_health" // a sink became healthy, degraded, failed
)

// Event is one thing that happened, as it travels the event path
// (store → outbox → sinks, and the live feed).
type Event struct {
	ID       string // UUID; stable across retries so receivers can de-duplicate
	Time     time.Time
	Type     EventType
	Action   string // e.g. "auth.login_failed", "user.create"
	Severity Severity
	Category string // alert category; empty for non-alert events
	Actor    string
	Subject  string // human-readable one-line summary
	Data     json.RawMessage
}

// EventFilter selects stored events. Zero fields do not filter.
type EventFilter struct {
	Type        EventType
	MinSeverity Severity
	Since       time.Time
	Limit       int
	Offset      int
}

// OutboxItem is one pending delivery of an event to one sink.
type OutboxItem struct {
	ID          int64
	EventID     string
	Sink        string
	Attempts    int
	NextAttempt time.Time
	LastError   string
	Event       Event
}
