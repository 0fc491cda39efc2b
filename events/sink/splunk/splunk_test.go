package splunk_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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
	if s.MaxBatch() != splunk.DefaultBatch {
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
		"name is required":     func(c *splunk.Config) { c.Name = "" },
		"url is required":      func(c *splunk.Config) { c.URL = "" },
		"token is required":    func(c *splunk.Config) { c.Token = "" },
		"channel must be":      func(c *splunk.Config) { c.Channel = "abc" },
		"max_batch must be":    func(c *splunk.Config) { c.MaxBatch = 100000 },
		"index must be":        func(c *splunk.Config) { c.Index = "a b" },
		"tls.ca_pem":           func(c *splunk.Config) { c.TLS.CAPEM = "x" },
		"token must not":       func(c *splunk.Config) { c.Token = "a b" },
		"timeout must not be":  func(c *splunk.Config) { c.Timeout = -1 },
		"format must be one":   func(c *splunk.Config) { c.Format = "json" },
		"ack requires channel": func(c *splunk.Config) { c.Ack = true },
		"ack_timeout must be":  func(c *splunk.Config) { c.AckTimeout = time.Minute },
		"ack_timeout must be ": func(c *splunk.Config) { c.AckTimeout = -1 },
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

func ackSetup(t *testing.T, cfg splunk.Config) (*siem.HEC, events.Sink) {
	t.Helper()
	cfg.Ack, cfg.Channel = true, channel
	rx, s := setup(t, cfg)
	rx.Ack = true
	splunk.SetAckPoll(s, 5*time.Millisecond)
	return rx, s
}

func TestAckWaitsForIndexing(t *testing.T) {
	cases := []struct {
		name      string
		ackAfter  int
		wantPolls int
	}{
		{"acknowledged at once", 0, 1},
		{"acknowledged on the fourth query", 3, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rx, s := ackSetup(t, splunk.Config{AckTimeout: 5 * time.Second})
			rx.AckAfter = tc.ackAfter
			for batch := range 2 { // ackIds 0 then 1 on the same channel
				if err := s.Deliver(context.Background(), evs(3)); err != nil {
					t.Fatalf("batch %d: %v", batch, err)
				}
			}
			if e := rx.Errors(); len(e) > 0 {
				t.Fatal(e)
			}
			if rx.AckPolls() != 2*tc.wantPolls || rx.PendingAcks() != 0 || len(rx.Events()) != 6 {
				t.Fatalf("polls %d pending %d events %d", rx.AckPolls(), rx.PendingAcks(), len(rx.Events()))
			}
		})
	}
}

// TestAckPollAnswers: answers of the ack endpoint other than 200 — busy
// ones are polled through, others end the wait as permanent failures.
func TestAckPollAnswers(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		body      string
		permanent bool // else delivered after the failures
	}{
		{"busy", 503, `{"text":"Server is busy","code":9}`, false},
		{"throttled", 429, `{"text":"Server is busy","code":9}`, false},
		{"ack disabled", 400, `{"text":"ACK is disabled","code":14}`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rx := siem.NewHEC(token)
			rx.Ack = true
			t.Cleanup(rx.Close)
			var mu sync.Mutex
			failures := 2
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				fail := r.URL.Path == "/services/collector/ack" && failures > 0
				if fail {
					failures--
				}
				mu.Unlock()
				if fail {
					w.WriteHeader(tc.status)
					_, _ = w.Write([]byte(tc.body))
					return
				}
				rx.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			s, err := splunk.New(splunk.Config{Name: "s", URL: srv.URL, Token: token, Channel: channel, Ack: true, AckTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			splunk.SetAckPoll(s, 5*time.Millisecond)
			err = s.Deliver(context.Background(), evs(1))
			var de *events.DeliveryError
			if tc.permanent {
				if !errors.As(err, &de) || !de.Permanent || !strings.Contains(err.Error(), "HEC code 14: ACK is disabled") {
					t.Fatalf("got %v", err)
				}
				return
			}
			if err != nil || rx.AckPolls() != 1 || failures != 0 {
				t.Fatalf("got %v after %d polls", err, rx.AckPolls())
			}
		})
	}
}

func TestAckTimeoutIsRetryable(t *testing.T) {
	rx, s := ackSetup(t, splunk.Config{AckTimeout: 150 * time.Millisecond})
	rx.NeverAck = true
	start := time.Now()
	err := s.Deliver(context.Background(), evs(2))
	var de *events.DeliveryError
	if err == nil || errors.As(err, &de) && de.Permanent || !strings.Contains(err.Error(), "no indexer acknowledgement of ackId 0 within 150ms") {
		t.Fatalf("got %v", err)
	}
	if el := time.Since(start); el < 150*time.Millisecond || el > 2*time.Second {
		t.Fatalf("gave up after %v", el)
	}
	if rx.AckPolls() < 3 {
		t.Fatalf("only %d polls", rx.AckPolls())
	}
	// The dispatcher's deadline ends the wait too, still retryable.
	rx.NeverAck = true
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	s2, _ := splunk.New(splunk.Config{Name: "s", URL: srvURL(t, rx), Token: token, Channel: channel, Ack: true})
	err = s2.Deliver(ctx, evs(1))
	if err == nil || errors.As(err, &de) && de.Permanent || !strings.Contains(err.Error(), "waiting for indexer acknowledgement of ackId 1") {
		t.Fatalf("deadline: %v", err)
	}
}

func srvURL(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestAckMisconfigurations(t *testing.T) {
	var de *events.DeliveryError
	// ack on in Bulwark, off on the token: HEC answers without ackId.
	rx, s := ackSetup(t, splunk.Config{})
	rx.Ack = false
	if err := s.Deliver(context.Background(), evs(1)); !errors.As(err, &de) || !de.Permanent || !strings.Contains(err.Error(), "without an ackId") {
		t.Fatalf("token without ack: %v", err)
	}
	// Acknowledgement on for the token, off in Bulwark: the channel is
	// still required and sent, and a 200 counts as delivered.
	rx2, plain := setup(t, splunk.Config{Channel: channel})
	rx2.Ack = true
	if err := plain.Deliver(context.Background(), evs(1)); err != nil || rx2.AckPolls() != 0 {
		t.Fatalf("ack off: %v, %d polls", err, rx2.AckPolls())
	}
	rx3, noch := setup(t, splunk.Config{})
	rx3.Ack = true
	if err := noch.Deliver(context.Background(), evs(1)); !errors.As(err, &de) || !de.Permanent || !strings.Contains(err.Error(), "code 10") {
		t.Fatalf("no channel: %v", err)
	}
}
