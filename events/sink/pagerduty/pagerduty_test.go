package pagerduty_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/pagerduty"
	"github.com/bulwarkhq/bulwark/fake/siem"
)

const key = "R0123456789abcdef0123456789ABCDE"

func alert(id string, sev bulwark.Severity) bulwark.Event {
	return bulwark.Event{
		ID: id, Time: time.Date(2026, 11, 22, 4, 0, 0, 123e6, time.UTC), Type: bulwark.EventAlert,
		Action: "policy.block", Severity: sev, Category: "Guardrails", Actor: "alice",
		Subject: "Blocked Prompt injection (PI-001) from alice on proxy openai",
		Data:    json.RawMessage(`{"proxy":"openai","group":"eng","rule_id":"PI-001","evidence":"ignore previous ***","severity":"spoof"}`),
	}
}

func setup(t *testing.T, cfg pagerduty.Config) (*siem.PagerDuty, events.Sink) {
	t.Helper()
	rx := siem.NewPagerDuty(key)
	srv := httptest.NewServer(rx)
	t.Cleanup(srv.Close)
	t.Cleanup(rx.Close)
	cfg.Name, cfg.URL = "pd", srv.URL+"/v2/enqueue"
	if cfg.RoutingKey == "" {
		cfg.RoutingKey = key
	}
	s, err := pagerduty.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rx, s
}

func TestTrigger(t *testing.T) {
	rx, s := setup(t, pagerduty.Config{Source: "gw1", ClientURL: "https://bulwark.example/alerts"})
	if s.MaxBatch() != 1 {
		t.Fatal(s.MaxBatch())
	}
	sevs := []bulwark.Severity{bulwark.SeverityCritical, bulwark.SeverityHigh, bulwark.SeverityMedium, bulwark.SeverityLow, bulwark.SeverityInfo}
	var batch []bulwark.Event
	for i, sev := range sevs {
		batch = append(batch, alert(string(rune('a'+i)), sev))
	}
	if err := s.Deliver(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if e := rx.Errors(); len(e) > 0 {
		t.Fatal(e)
	}
	got := rx.Events()
	want := []string{"critical", "error", "warning", "info", "info"}
	for i, ev := range got {
		if ev.Payload.Severity != want[i] {
			t.Errorf("%s → %s, want %s", sevs[i], ev.Payload.Severity, want[i])
		}
	}
	e := got[1]
	p := e.Payload
	if e.EventAction != "trigger" || e.DedupKey != "b" || e.Client != "Bulwark" || e.ClientURL != "https://bulwark.example/alerts" ||
		p.Source != "gw1" || p.Component != "openai" || p.Group != "eng" || p.Class != "Guardrails" ||
		p.Summary != "[HIGH] Blocked Prompt injection (PI-001) from alice on proxy openai" || p.Timestamp != "2026-11-22T04:00:00.123Z" ||
		p.CustomDetails["rule_id"] != "PI-001" || p.CustomDetails["event_id"] != "b" || p.CustomDetails["severity"] != "high" {
		t.Fatalf("event %+v", e)
	}
}

func TestLimits(t *testing.T) {
	rx, s := setup(t, pagerduty.Config{})
	ev := alert("big", bulwark.SeverityHigh)
	ev.Subject = strings.Repeat("x ", 2000)
	ev.Data, _ = json.Marshal(map[string]string{"evidence": strings.Repeat("y", 600<<10)})
	if err := s.Deliver(context.Background(), []bulwark.Event{ev}); err != nil {
		t.Fatal(err)
	}
	got := rx.Events()[0]
	if len([]rune(got.Payload.Summary)) > 1024 || got.Payload.CustomDetails["evidence"] != nil || got.Payload.CustomDetails["event_id"] != "big" {
		t.Fatalf("summary %d runes, details %v", len(got.Payload.Summary), got.Payload.CustomDetails["note"])
	}
}

func TestFailures(t *testing.T) {
	rx, s := setup(t, pagerduty.Config{})
	var de *events.DeliveryError
	rx.Inject(siem.Throttle, 1)
	if err := s.Deliver(context.Background(), []bulwark.Event{alert("x", bulwark.SeverityHigh)}); !errors.As(err, &de) || de.Permanent || de.Status != 429 ||
		!strings.Contains(err.Error(), "throttle event") {
		t.Fatalf("429: %v", err)
	}
	rx.Inject(siem.ServerError, 1)
	if err := s.Deliver(context.Background(), []bulwark.Event{alert("x", bulwark.SeverityHigh)}); !errors.As(err, &de) || de.Permanent {
		t.Fatalf("500: %v", err)
	}
	other := "Z0123456789abcdef0123456789ABCDE"
	_, bad := setup(t, pagerduty.Config{RoutingKey: other})
	err := bad.Deliver(context.Background(), []bulwark.Event{alert("x", bulwark.SeverityHigh)})
	if !errors.As(err, &de) || !de.Permanent || de.Status != 400 || !strings.Contains(err.Error(), "Invalid routing key") || strings.Contains(err.Error(), other) {
		t.Fatalf("bad key: %v", err)
	}
}

func TestValidate(t *testing.T) {
	base := pagerduty.Config{Name: "pd", RoutingKey: key}
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	for want, mut := range map[string]func(c *pagerduty.Config){
		"name is required":        func(c *pagerduty.Config) { c.Name = "" },
		"routing_key is required": func(c *pagerduty.Config) { c.RoutingKey = "" },
		"routing_key must be":     func(c *pagerduty.Config) { c.RoutingKey = "short" },
		"url must be":             func(c *pagerduty.Config) { c.URL = "events.pagerduty.com" },
		"client_url must be":      func(c *pagerduty.Config) { c.ClientURL = "x" },
		"source must be":          func(c *pagerduty.Config) { c.Source = "a\nb" },
		"timeout must not":        func(c *pagerduty.Config) { c.Timeout = -1 },
		"tls.ca_pem":              func(c *pagerduty.Config) { c.TLS.CAPEM = "x" },
	} {
		c := base
		mut(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
}

func TestConnectionTestDoesNotPage(t *testing.T) {
	rx, s := setup(t, pagerduty.Config{})
	ev := bulwark.Event{ID: "t1", Type: bulwark.EventSystem, Action: pagerduty.TestAction, Severity: bulwark.SeverityInfo, Subject: "test"}
	if err := s.Deliver(context.Background(), []bulwark.Event{ev}); err != nil {
		t.Fatal(err)
	}
	got := rx.Events()
	if len(got) != 1 || got[0].EventAction != "resolve" || got[0].DedupKey != "t1" || got[0].Payload != nil {
		t.Fatalf("events %+v", got)
	}
}
