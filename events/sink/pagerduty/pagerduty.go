// Package pagerduty triggers PagerDuty incidents through the Events API v2
// (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/): one
// trigger per event, de-duplicated by event id, with the alert's fields as
// the payload.
package pagerduty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/wire"
)

// DefaultURL is the Events API v2 endpoint (EU accounts use
// https://events.eu.pagerduty.com/v2/enqueue).
const DefaultURL = "https://events.pagerduty.com/v2/enqueue"

// PagerDuty's limits.
const (
	maxSummary = 1024
	maxDedup   = 255
	maxEvent   = 512 << 10
)

// Config is one PagerDuty integration.
type Config struct {
	// Name is the integration's unique name.
	Name string `json:"name"`
	// URL is the enqueue endpoint (default DefaultURL).
	URL string `json:"url,omitempty" help:"Events API v2 endpoint (default https://events.pagerduty.com/v2/enqueue; EU: https://events.eu.pagerduty.com/v2/enqueue)."`
	// RoutingKey is the 32-character integration key of an Events API v2
	// integration on a service. Secret.
	RoutingKey string `json:"routing_key" help:"Integration Key of an Events API v2 integration on the service (32 characters)."`
	// Source is payload.source (default the gateway's host name).
	Source string `json:"source,omitempty" help:"payload.source (default the gateway host name)."`
	// ClientURL, when set, is sent as client_url (e.g. the console's
	// Alerts page) with client "Bulwark".
	ClientURL string `json:"client_url,omitempty" help:"Link shown on the incident, e.g. the console Alerts page."`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `json:"timeout,omitempty"`
	TLS     wire.TLS      `json:"tls"`
}

// Validate checks every field and names the first bad one.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return errors.New("name is required")
	}
	if c.URL != "" {
		if err := wire.ValidateURL("url", c.URL); err != nil {
			return err
		}
	}
	if c.RoutingKey == "" {
		return errors.New("routing_key is required (the Integration Key of an Events API v2 integration)")
	}
	if len(c.RoutingKey) != 32 || strings.IndexFunc(c.RoutingKey, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) >= 0 {
		return errors.New("routing_key must be the 32-character Integration Key (letters and digits)")
	}
	if len(c.Source) > 255 || bulwark.ContainsControl(c.Source) {
		return errors.New("source must be at most 255 characters without control characters")
	}
	if c.ClientURL != "" {
		if err := wire.ValidateURL("client_url", c.ClientURL); err != nil {
			return err
		}
	}
	if c.Timeout < 0 {
		return errors.New("timeout must not be negative")
	}
	return c.TLS.Validate()
}

type pagerduty struct {
	cfg    Config
	client *http.Client
}

// New validates cfg and returns the sink.
func New(cfg Config) (events.Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pagerduty %q: %w", cfg.Name, err)
	}
	c, err := wire.NewClient(cfg.TLS, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	if cfg.Source == "" {
		cfg.Source, _ = os.Hostname()
		if cfg.Source == "" {
			cfg.Source = "bulwark"
		}
	}
	return &pagerduty{cfg: cfg, client: c}, nil
}

func (p *pagerduty) Name() string { return p.cfg.Name }

// MaxBatch is 1: the Events API takes one event per request.
func (p *pagerduty) MaxBatch() int { return 1 }

// Payload is the PagerDuty event payload.
type Payload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// Event is an Events API v2 request body.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key,omitempty"`
	Payload     *Payload `json:"payload,omitempty"`
	Client      string   `json:"client,omitempty"`
	ClientURL   string   `json:"client_url,omitempty"`
}

// Severity maps Bulwark severities onto PagerDuty's four.
func Severity(s bulwark.Severity) string {
	switch s {
	case bulwark.SeverityCritical:
		return "critical"
	case bulwark.SeverityHigh:
		return "error"
	case bulwark.SeverityMedium:
		return "warning"
	}
	return "info"
}

// TestAction is the action of the test-connection event (type system);
// the audit event of the same name is a config event and pages as usual.
const TestAction = "integration.test"

// body is the trigger for ev. The test-connection event is sent as a
// resolve of a dedup key no incident has: PagerDuty checks the routing key
// and answers 202 without paging anyone.
func (p *pagerduty) body(ev *bulwark.Event) ([]byte, error) {
	if ev.Type == bulwark.EventSystem && ev.Action == TestAction {
		return json.Marshal(Event{RoutingKey: p.cfg.RoutingKey, EventAction: "resolve", DedupKey: wire.Excerpt(ev.ID, maxDedup)})
	}
	var data map[string]any
	if json.Unmarshal(ev.Data, &data) != nil || data == nil {
		data = map[string]any{}
		if len(ev.Data) > 0 {
			data["data"] = string(ev.Data)
		}
	}
	str := func(keys ...string) string {
		for _, k := range keys {
			if s, ok := data[k].(string); ok && s != "" {
				return s
			}
		}
		return ""
	}
	summary := ev.Subject
	if summary == "" {
		summary = str("title")
	}
	if summary == "" {
		summary = ev.Action
	}
	summary = fmt.Sprintf("[%s] %s", strings.ToUpper(string(ev.Severity)), strings.Join(strings.Fields(summary), " "))
	class := ev.Category
	if class == "" {
		class = string(ev.Type)
	}
	details := map[string]any{
		"event_id": ev.ID, "event_type": string(ev.Type), "action": ev.Action, "severity": string(ev.Severity),
	}
	if ev.Actor != "" {
		details["actor"] = ev.Actor
	}
	for k, v := range data {
		if _, taken := details[k]; !taken {
			details[k] = v
		}
	}
	e := Event{
		RoutingKey: p.cfg.RoutingKey, EventAction: "trigger", DedupKey: wire.Excerpt(ev.ID, maxDedup),
		Payload: &Payload{
			Summary: wire.Excerpt(summary, maxSummary), Source: p.cfg.Source, Severity: Severity(ev.Severity),
			Component: str("proxy"), Group: str("group"), Class: class, CustomDetails: details,
		},
	}
	if !ev.Time.IsZero() {
		e.Payload.Timestamp = ev.Time.UTC().Format(time.RFC3339Nano)
	}
	if p.cfg.ClientURL != "" {
		e.Client, e.ClientURL = "Bulwark", p.cfg.ClientURL
	}
	b, err := json.Marshal(e)
	if err != nil || len(b) <= maxEvent {
		return b, err
	}
	// Over PagerDuty's 512 KB: keep the incident, drop the bulky details.
	e.Payload.CustomDetails = map[string]any{"event_id": ev.ID, "note": "details omitted: over PagerDuty's 512 KB event limit"}
	return json.Marshal(e)
}

func (p *pagerduty) Deliver(ctx context.Context, evs []bulwark.Event) error {
	for i := range evs {
		body, err := p.body(&evs[i])
		if err != nil {
			return &events.DeliveryError{Permanent: true, Err: err}
		}
		resp, err := wire.Post(ctx, p.client, p.cfg.URL, http.Header{"Content-Type": {"application/json"}}, body)
		if err != nil {
			return err
		}
		if err := resp.Failure(detail(resp.Body)); err != nil {
			return err
		}
	}
	return nil
}

// detail renders {"status","message","errors":[…]}; routing keys never
// appear in PagerDuty's messages.
func detail(b []byte) string {
	var e struct {
		Status  string   `json:"status"`
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
	}
	if json.Unmarshal(b, &e) != nil || (e.Message == "" && e.Status == "") {
		return ""
	}
	d := strings.TrimSpace(e.Status + ": " + e.Message)
	if len(e.Errors) > 0 {
		d += " (" + strings.Join(e.Errors, "; ") + ")"
	}
	return wire.Excerpt(d, 300)
}
