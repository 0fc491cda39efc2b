package slack_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/slack"
	"github.com/bulwarkhq/bulwark/fake/siem"
)

const hookPath = "/services/T000/B000/XXXXXXXX"

func alert(sev bulwark.Severity, data map[string]any) bulwark.Event {
	b, _ := json.Marshal(data)
	return bulwark.Event{
		ID: "ev-1", Time: time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC), Type: bulwark.EventAlert,
		Action: "policy.block", Severity: sev, Category: "Guardrails", Actor: "alice",
		Subject: "Blocked Prompt injection (PI-001) from alice on proxy openai", Data: b,
	}
}

func setup(t *testing.T) (*siem.Slack, events.Sink) {
	t.Helper()
	rx := siem.NewSlack(hookPath)
	srv := httptest.NewServer(rx)
	t.Cleanup(srv.Close)
	t.Cleanup(rx.Close)
	s, err := slack.New(slack.Config{Name: "soc", WebhookURL: srv.URL + hookPath, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return rx, s
}

func TestAlertMessage(t *testing.T) {
	rx, s := setup(t)
	ev := alert(bulwark.SeverityCritical, map[string]any{"proxy": "openai", "group": "eng", "user": "alice", "rule_id": "PI-001",
		"title": "Prompt injection", "evidence": "ignore all previous <instructions> ```", "action": "block", "model": "gpt-4o"})
	if err := s.Deliver(context.Background(), []bulwark.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if e := rx.Errors(); len(e) > 0 {
		t.Fatal(e)
	}
	m := rx.Messages()
	if len(m) != 1 || len(m[0].Attachments) != 1 {
		t.Fatalf("messages %+v", m)
	}
	a := m[0].Attachments[0]
	if a.Color != "#B42318" || a.Blocks[0].Type != "header" || a.Blocks[0].Text.Text != ":rotating_light: Prompt injection" {
		t.Fatalf("attachment %+v", a)
	}
	var all strings.Builder
	for _, b := range a.Blocks {
		if b.Text != nil {
			all.WriteString(b.Text.Text + "|")
		}
		for _, f := range append(b.Fields, b.Elements...) {
			all.WriteString(f.Text + "|")
		}
	}
	for _, want := range []string{"*Severity*\nCRITICAL", "*Category*\nGuardrails", "*Action*\nblock", "*User*\nalice",
		"openai → gpt-4o", "*Policy / rule*\nPI-001", "2026-11-22 04:00:00 UTC", "&lt;instructions&gt; ˋˋˋ```", "group eng"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("missing %q in %s", want, all.String())
		}
	}
	if !strings.Contains(m[0].Text, "[CRITICAL] Prompt injection") {
		t.Errorf("fallback text %q", m[0].Text)
	}
}

func TestColoursAndLimits(t *testing.T) {
	rx, s := setup(t)
	want := map[bulwark.Severity]string{bulwark.SeverityHigh: "#F04438", bulwark.SeverityMedium: "#F79009", bulwark.SeverityLow: "#2E90FA", bulwark.SeverityInfo: "#98A2B3"}
	long := strings.Repeat("é", 10000)
	for sev := range want {
		ev := alert(sev, map[string]any{"title": long, "evidence": long, "user": long, "proxy": long})
		ev.Subject = long
		if err := s.Deliver(context.Background(), []bulwark.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	if e := rx.Errors(); len(e) > 0 {
		t.Fatal(e)
	}
	for _, m := range rx.Messages() {
		a := m.Attachments[0]
		found := false
		for _, c := range want {
			found = found || c == a.Color
		}
		if !found {
			t.Errorf("colour %s", a.Color)
		}
		if n := utf8.RuneCountInString(a.Blocks[0].Text.Text); n > 150 {
			t.Errorf("header %d", n)
		}
	}
}

func TestNonAlertEvent(t *testing.T) {
	rx, s := setup(t)
	ev := bulwark.Event{ID: "x", Time: time.Now(), Type: bulwark.EventAuth, Action: "auth.login_failed", Severity: bulwark.SeverityMedium, Actor: "bob", Subject: "Login failed for bob"}
	if err := s.Deliver(context.Background(), []bulwark.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if e := rx.Errors(); len(e) > 0 || len(rx.Messages()) != 1 {
		t.Fatal(e)
	}
}

func TestFailures(t *testing.T) {
	rx, s := setup(t)
	ev := alert(bulwark.SeverityHigh, map[string]any{"title": "x"})
	var de *events.DeliveryError
	rx.SetRetryAfter(3)
	rx.Inject(siem.Throttle, 1)
	if err := s.Deliver(context.Background(), []bulwark.Event{ev}); !errors.As(err, &de) || de.Permanent || de.RetryAfter != 3*time.Second || de.Status != 429 {
		t.Fatalf("want retryable 429 after 3s, got %v", err)
	}
	rx.Inject(siem.ServerError, 1)
	if err := s.Deliver(context.Background(), []bulwark.Event{ev}); !errors.As(err, &de) || de.Permanent {
		t.Fatalf("want retryable 500, got %v", err)
	}
	rx.Inject(siem.BadRequest, 1)
	if err := s.Deliver(context.Background(), []bulwark.Event{ev}); !errors.As(err, &de) || !de.Permanent || !strings.Contains(err.Error(), "invalid_payload") {
		t.Fatalf("want permanent invalid_payload, got %v", err)
	}
	rx.Inject(siem.Hang, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Deliver(ctx, []bulwark.Event{ev}); err == nil || errors.As(err, &de) || strings.Contains(err.Error(), "services") {
		t.Fatalf("want network error without the webhook path, got %v", err)
	}
	if s.MaxBatch() != 1 {
		t.Fatal("MaxBatch")
	}
}

func TestWrongPathIsPermanentAndURLNotLeaked(t *testing.T) {
	rx := siem.NewSlack(hookPath)
	srv := httptest.NewServer(rx)
	defer srv.Close()
	s, err := slack.New(slack.Config{Name: "soc", WebhookURL: srv.URL + "/services/T000/B000/WRONG"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Deliver(context.Background(), []bulwark.Event{alert(bulwark.SeverityLow, nil)})
	var de *events.DeliveryError
	if !errors.As(err, &de) || !de.Permanent || de.Status != 404 || strings.Contains(err.Error(), "WRONG") {
		t.Fatalf("got %v", err)
	}
}

func TestValidate(t *testing.T) {
	for want, c := range map[string]slack.Config{
		"name is required":        {WebhookURL: "https://hooks.slack.com/services/x"},
		"webhook_url is required": {Name: "a"},
		"webhook_url must be":     {Name: "a", WebhookURL: "hooks.slack.com"},
		"timeout":                 {Name: "a", WebhookURL: "https://h/x", Timeout: -1},
	} {
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
}
