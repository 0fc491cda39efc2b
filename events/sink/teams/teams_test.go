package teams_test

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
	"github.com/bulwarkhq/bulwark/events/sink/teams"
	"github.com/bulwarkhq/bulwark/fake/siem"
)

const (
	path = "/workflows/5f0c/triggers/manual/paths/invoke"
	sig  = "Zx9-secret-sig"
)

func alert(id string) bulwark.Event {
	return bulwark.Event{
		ID: id, Time: time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC), Type: bulwark.EventAlert,
		Action: "policy.block", Severity: bulwark.SeverityCritical, Category: "Guardrails", Actor: "alice",
		Subject: "Blocked Prompt injection (PI-001) from alice on proxy openai",
		Data: json.RawMessage(`{"proxy":"openai","target":"gpt-4o","user":"alice","rule_id":"PI-001","policy":"std","title":"Prompt injection",
			"evidence":"ignore [previous](http://evil) *** instructions","source_ip":"192.0.2.1","action":"block"}`),
	}
}

func setup(t *testing.T, url string) (*siem.Teams, events.Sink) {
	t.Helper()
	rx := siem.NewTeams(path, sig)
	srv := httptest.NewServer(rx)
	t.Cleanup(srv.Close)
	t.Cleanup(rx.Close)
	if url == "" {
		url = srv.URL + path + "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + sig
	} else {
		url = srv.URL + url
	}
	s, err := teams.New(teams.Config{Name: "soc-teams", WebhookURL: url})
	if err != nil {
		t.Fatal(err)
	}
	return rx, s
}

func TestCard(t *testing.T) {
	rx, s := setup(t, "")
	if s.MaxBatch() != 1 {
		t.Fatal(s.MaxBatch())
	}
	if err := s.Deliver(context.Background(), []bulwark.Event{alert("e1")}); err != nil {
		t.Fatal(err)
	}
	if e := rx.Errors(); len(e) > 0 {
		t.Fatal(e)
	}
	m := rx.Messages()[0]
	c := m.Attachments[0].Content
	if c.Version != "1.4" || c.Body[0].Color != "Attention" || c.Body[0].Text != "[CRITICAL] Prompt injection" {
		t.Fatalf("card %+v", c)
	}
	facts := map[string]string{}
	for _, f := range c.Body[2].Facts {
		facts[f.Title] = f.Value
	}
	if facts["Proxy / target"] != "openai → gpt-4o" || facts["Policy / rule"] != "std / PI-001" || facts["Event id"] != "e1" {
		t.Fatalf("facts %v", facts)
	}
	last := c.Body[len(c.Body)-1]
	if last.FontType != "Monospace" || !strings.Contains(last.Text, `\[previous\](http://evil) \*\*\*`) {
		t.Fatalf("evidence %q", last.Text)
	}
}

func TestSizeBound(t *testing.T) {
	rx, s := setup(t, "")
	ev := alert("big")
	ev.Subject = strings.Repeat("<&\"*", 3000)
	ev.Data, _ = json.Marshal(map[string]string{"evidence": strings.Repeat(`\"`, 20000), "user": strings.Repeat("*", 5000),
		"proxy": strings.Repeat("\x01", 5000), "policy": strings.Repeat("_", 5000), "rule_id": strings.Repeat("]", 5000)})
	b, _ := json.Marshal(teams.Message(&ev))
	if len(b) > teams.MaxMessage {
		t.Fatalf("message is %d bytes", len(b))
	}
	if err := s.Deliver(context.Background(), []bulwark.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if len(rx.Messages()) != 1 {
		t.Fatal(rx.Errors())
	}
}

func TestFailures(t *testing.T) {
	rx, s := setup(t, "")
	var de *events.DeliveryError
	rx.SetRetryAfter(3)
	rx.Inject(siem.Throttle, 1)
	if err := s.Deliver(context.Background(), []bulwark.Event{alert("x")}); !errors.As(err, &de) || de.Permanent || de.RetryAfter != 3*time.Second ||
		!strings.Contains(err.Error(), "TooManyRequests") {
		t.Fatalf("429: %v", err)
	}
	rx.Inject(siem.ServerError, 1)
	if err := s.Deliver(context.Background(), []bulwark.Event{alert("x")}); !errors.As(err, &de) || de.Permanent {
		t.Fatalf("500: %v", err)
	}
	_, bad := setup(t, path+"?sig=wrong")
	err := bad.Deliver(context.Background(), []bulwark.Event{alert("x")})
	if !errors.As(err, &de) || !de.Permanent || de.Status != 401 || strings.Contains(err.Error(), "wrong") || strings.Contains(err.Error(), "workflows") {
		t.Fatalf("bad sig: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for want, c := range map[string]teams.Config{
		"name is required":        {WebhookURL: "https://x"},
		"webhook_url is required": {Name: "t"},
		"webhook_url must be":     {Name: "t", WebhookURL: "x"},
		"timeout must not":        {Name: "t", WebhookURL: "https://x", Timeout: -1},
	} {
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
}
