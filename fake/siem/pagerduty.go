package siem

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
)

// PagerDutyPayload is payload of an Events API v2 trigger.
type PagerDutyPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// PagerDutyEvent is an Events API v2 request.
type PagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"`
	DedupKey    string            `json:"dedup_key,omitempty"`
	Payload     *PagerDutyPayload `json:"payload,omitempty"`
	Client      string            `json:"client,omitempty"`
	ClientURL   string            `json:"client_url,omitempty"`
	Images      []any             `json:"images,omitempty"`
	Links       []any             `json:"links,omitempty"`
}

// PagerDuty is the Events API v2 enqueue endpoint (POST /v2/enqueue). It
// checks the body the way PagerDuty documents it (known routing key,
// event_action, payload with summary ≤ 1024, source, severity
// critical|error|warning|info, ISO 8601 timestamp, dedup_key ≤ 255, body ≤
// 512 KB, no unknown fields) and answers like PagerDuty: 202
// {"status":"success","message":"Event processed","dedup_key"}, 400
// {"status":"invalid event","message","errors":[…]}, 429, 500.
type PagerDuty struct {
	faults
	keys   []string
	events []PagerDutyEvent
}

// NewPagerDuty accepts the given routing keys.
func NewPagerDuty(routingKeys ...string) *PagerDuty {
	return &PagerDuty{faults: newFaults(), keys: routingKeys}
}

// Events are the events accepted, in order.
func (p *PagerDuty) Events() []PagerDutyEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]PagerDutyEvent(nil), p.events...)
}

func pdAnswer(w http.ResponseWriter, status int, body map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func pdFault(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		pdAnswer(w, status, map[string]any{"status": "throttle event", "message": "Requests for this service are arriving too quickly. Please retry later."})
	case http.StatusBadRequest:
		pdAnswer(w, status, map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": []string{"injected"}})
	default:
		pdAnswer(w, status, map[string]any{"status": "error", "message": "Internal server error"})
	}
}

func (p *PagerDuty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.inject(w, r, pdFault) {
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" {
		p.reject(r.Method + " " + r.URL.Path)
		pdAnswer(w, http.StatusNotFound, map[string]any{"status": "not found", "message": "Not found"})
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		p.reject("content-type " + r.Header.Get("Content-Type"))
		pdAnswer(w, http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": []string{"Content-Type must be application/json"}})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	ev, errs := p.check(body)
	if len(errs) > 0 {
		p.reject(strings.Join(errs, "; "))
		pdAnswer(w, http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": errs})
		return
	}
	p.mu.Lock()
	p.events = append(p.events, *ev)
	p.mu.Unlock()
	pdAnswer(w, http.StatusAccepted, map[string]any{"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey})
}

func (p *PagerDuty) check(body []byte) (*PagerDutyEvent, []string) {
	if len(body) > 512<<10 {
		return nil, []string{"Event object is too large (over 512 KB)"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var ev PagerDutyEvent
	if err := dec.Decode(&ev); err != nil {
		return nil, []string{"Invalid JSON: " + err.Error()}
	}
	var errs []string
	if !slices.Contains(p.keys, ev.RoutingKey) {
		errs = append(errs, "Invalid routing key")
	}
	if !slices.Contains([]string{"trigger", "acknowledge", "resolve"}, ev.EventAction) {
		errs = append(errs, "'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')")
	}
	if len(ev.DedupKey) > 255 {
		errs = append(errs, "'dedup_key' must be at most 255 characters")
	}
	if ev.EventAction != "trigger" {
		if ev.DedupKey == "" {
			errs = append(errs, "'dedup_key' is required for acknowledge and resolve")
		}
		return &ev, errs
	}
	pl := ev.Payload
	if pl == nil {
		return nil, append(errs, "'payload' is missing or blank")
	}
	if strings.TrimSpace(pl.Summary) == "" || len([]rune(pl.Summary)) > 1024 {
		errs = append(errs, "'payload.summary' is missing, blank or longer than 1024 characters")
	}
	if strings.TrimSpace(pl.Source) == "" {
		errs = append(errs, "'payload.source' is missing or blank")
	}
	if !slices.Contains([]string{"critical", "error", "warning", "info"}, pl.Severity) {
		errs = append(errs, fmt.Sprintf("'payload.severity' is invalid (%q)", pl.Severity))
	}
	if pl.Timestamp != "" {
		if _, err := time.Parse(time.RFC3339Nano, pl.Timestamp); err != nil {
			errs = append(errs, "'payload.timestamp' is not a valid ISO 8601 timestamp")
		}
	}
	return &ev, errs
}
