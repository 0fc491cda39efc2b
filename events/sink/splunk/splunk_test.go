package splunk_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/splunk"
	"github.com/bulwarkhq/bulwark/events/sink/wire"
	"github.com/bulwarkhq/bulwark/fake/siem"
)

const (
	token   = "11111111-2222-3333-4444-555555555555"
	channel = "0AC0F4B2-1C5A-4E5B-9D2E-3B5A6C7D8E9F"
)

func evs(n int) []bulwark.Event {
	out := make([]bulwark.Event, n)
	for i := range out {
		out[i] = bulwark.Event{
			ID: fmt.Sprintf("ev-%d", i), Time: time.Unix(1700000000, 250e6), Type: bulwark.EventAlert, Action: "policy.block",
			Severity: bulwark.SeverityHigh, Category: "Guardrails", Actor: "alice", Subject: "Blocked",
			Data: json.RawMessage(`{"proxy":"openai","rule_id":"PI-001"}`),
		}
	}
	return out
}

func setup(t *testing.T, cfg splunk.Config) (*siem.HEC, events.Sink) {
	t.Helper()
	rx := siem.NewHEC(token)
	srv := httptest.NewServer(rx)
	t.Cleanup(srv.Close)
	t.Cleanup(rx.Close)
	cfg.Name, cfg.URL = "splunk", srv.URL
	if cfg.Token == "" {
		cfg.Token = token
	}
	s, err := splunk.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rx, s
}

func TestBatchFraming(t *testing.T) {
	rx, s := setup(t, splunk.Config{Index: "security", Channel: channel, Host: "gw1"})
	rx.RequireChannel = true
	rx.Indexes = []string{"security"}
	if s.MaxBatch() != 100 {
		t.Fatal(s.MaxBatch())
	}
	if err := s.Deliver(context.Background(), evs(3)); err != nil {
		t.Fatal(err)
	}
	if e := rx.Errors(); len(e) > 0 {
		t.Fatal(e)
	}
	got := rx.Events()
	if len(got) != 3 || rx.Batches()[0] != 3 {
		t.Fatalf("events %d batches %v", len(got), rx.Batches())
	}
	e := got[1]
	if e.Time != 1700000000.25 || e.Host != "gw1" || e.Source != "bulwark" || e.Sourcetype != "bulwark:event" || e.Index != "security" || e.Channel != channel {
		t.Fatalf("event %+v", e)
	}
	var env wire.Envelope
	if err := json.Unmarshal(e.Event, &env); err != nil || env.ID != "ev-1" || env.Severity != "high" || !strings.Contains(string(env.Data), "PI-001") {
		t.Fatalf("envelope %+v %v", env, err)
	}
	body := string(rx.LastBody())
	if strings.HasPrefix(body, "[") || strings.Contains(body, "},{") || strings.Count(body, "\n") != 3 {
		t.Fatalf("framing %q", body)
	}
}

func TestURLWithEndpointAndConfiguredBatch(t *testing.T) {
	rx := siem.NewHEC(token)
	srv := httptest.NewServer(rx)
	defer srv.Close()
	s, err := splunk.New(splunk.Config{Name: "s", URL: srv.URL + "/services/collector/event/", Token: token, MaxBatch: 500})
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxBatch() != 500 {
		t.Fatal(s.MaxBatch())
	}
	if err := s.Deliver(context.Background(), evs(500)); err != nil {
		t.Fatal(err)
	}
	if len(rx.Events()) != 500 || len(rx.Errors()) > 0 {
		t.Fatal(rx.Errors())
	}
}

func TestErrorMapping(t *testing.T) {
	rx, s := setup(t, splunk.Config{})
	var de *events.DeliveryError
	check := func(name string, permanent bool, status int, text string) {
		t.Helper()
		err := s.Deliver(context.Background(), evs(2))
		if !errors.As(err, &de) || de.Permanent != permanent || de.Status != status || !strings.Contains(err.Error(), text) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	rx.Inject(siem.Busy, 1)
	check("busy", false, 503, "HEC code 9: Server is busy")
	rx.SetRetryAfter(2)
	rx.Inject(siem.Throttle, 1)
	check("throttle", false, 429, "Server is busy")
	if de.RetryAfter != 2*time.Second {
		t.Errorf("retry after %v", de.RetryAfter)
	}
	rx.Inject(siem.ServerError, 1)
	check("500", false, 500, "HEC code 8")
	rx.Inject(siem.BadRequest, 1)
	check("400", true, 400, "HEC code 6: Invalid data format (event 0 of the batch)")

	_, bad := setup(t, splunk.Config{Token: "wrong"})
	if err := bad.Deliver(context.Background(), evs(1)); !errors.As(err, &de) || !de.Permanent || de.Status != 403 || !strings.Contains(err.Error(), "Invalid token") {
		t.Errorf("bad token: %v", err)
	}
	rx2, idx := setup(t, splunk.Config{Index: "main"})
	rx2.Indexes = []string{"security"}
	if err := idx.Deliver(context.Background(), evs(1)); !errors.As(err, &de) || !de.Permanent || !strings.Contains(err.Error(), "Incorrect index") {
		t.Errorf("bad index: %v", err)
	}
	rx3, noch := setup(t, splunk.Config{})
	rx3.RequireChannel = true
	if err := noch.Deliver(context.Background(), evs(1)); !errors.As(err, &de) || !de.Permanent || !strings.Contains(err.Error(), "code 10") {
		t.Errorf("no channel: %v", err)
	}
	rx.Inject(siem.Hang, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Deliver(ctx, evs(1)); err == nil || errors.As(err, &de) {
		t.Errorf("hang: want network error, got %v", err)
	}
}

func TestTLS(t *testing.T) {
	rx := siem.NewHEC(token)
	srv := httptest.NewTLSServer(rx)
	defer srv.Close()
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	s, err := splunk.New(splunk.Config{Name: "s", URL: srv.URL, Token: token, TLS: wire.TLS{CAPEM: ca}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(context.Background(), evs(1)); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	base := splunk.Config{Name: "s", URL: "https://splunk:8088", Token: token}
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	for want, mut := range map[string]func(c *splunk.Config){
		"name is required":    func(c *splunk.Config) { c.Name = "" },
		"url is required":     func(c *splunk.Config) { c.URL = "" },
		"token is required":   func(c *splunk.Config) { c.Token = "" },
		"channel must be":     func(c *splunk.Config) { c.Channel = "abc" },
		"max_batch must be":   func(c *splunk.Config) { c.MaxBatch = 100000 },
		"index must be":       func(c *splunk.Config) { c.Index = "a b" },
		"tls.ca_pem":          func(c *splunk.Config) { c.TLS.CAPEM = "x" },
		"token must not":      func(c *splunk.Config) { c.Token = "a b" },
		"timeout must not be": func(c *splunk.Config) { c.Timeout = -1 },
		"format must be one":  func(c *splunk.Config) { c.Format = "json" },
	} {
		c := base
		mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
}

func TestECSFormat(t *testing.T) {
	rx, s := setup(t, splunk.Config{Format: "ecs"})
	if err := s.Deliver(context.Background(), evs(2)); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Timestamp string `json:"@timestamp"`
		Event     struct {
			ID   string `json:"id"`
			Kind string `json:"kind"`
		} `json:"event"`
		Rule struct {
			ID string `json:"id"`
		} `json:"rule"`
	}
	got := rx.Events()
	if len(got) != 2 || json.Unmarshal(got[1].Event, &doc) != nil || doc.Event.ID != "ev-1" || doc.Event.Kind != "alert" ||
		doc.Rule.ID != "PI-001" || doc.Timestamp != "2023-11-14T22:13:20.25Z" {
		t.Fatalf("event %s", got[1].Event)
	}
}
