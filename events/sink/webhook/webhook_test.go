package webhook_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/webhook"
	"github.com/bulwarkhq/bulwark/events/sink/wire"
	"github.com/bulwarkhq/bulwark/fake/siem"
)

func secret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

func alert(id string) bulwark.Event {
	return bulwark.Event{
		ID: id, Time: time.Date(2026, 11, 22, 4, 0, 0, 123e6, time.UTC), Type: bulwark.EventAlert,
		Action: "policy.block", Severity: bulwark.SeverityHigh, Category: "Guardrails", Actor: "alice",
		Subject: "Blocked Prompt injection (PI-001) from alice on proxy openai",
		Data:    json.RawMessage(`{"proxy":"openai","user":"alice","rule_id":"PI-001","evidence":"ignore previous ***"}`),
	}
}

func newSink(t *testing.T, cfg webhook.Config) events.Sink {
	t.Helper()
	s, err := webhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignedSingleEvents(t *testing.T) {
	sec := secret(t)
	rx := siem.NewWebhook(false, sec)
	srv := httptest.NewServer(rx)
	defer srv.Close()
	s := newSink(t, webhook.Config{Name: "soar", URL: srv.URL + "/hook", Secrets: []string{sec}, Headers: map[string]string{"X-Api-Key": "k1"}})
	if s.MaxBatch() != 1 || s.Name() != "soar" {
		t.Fatalf("MaxBatch %d Name %q", s.MaxBatch(), s.Name())
	}
	if err := s.Deliver(context.Background(), []bulwark.Event{alert("e1"), alert("e2")}); err != nil {
		t.Fatal(err)
	}
	if e := rx.Errors(); len(e) > 0 {
		t.Fatal(e)
	}
	d := rx.Deliveries()
	if len(d) != 2 || d[0].MsgID != "e1" || d[1].MsgID != "e2" {
		t.Fatalf("deliveries %+v", d)
	}
	ev := d[0].Events[0]
	if ev.Type != "alert" || ev.Severity != "high" || ev.Category != "Guardrails" || ev.Time != "2026-11-22T04:00:00.123Z" ||
		!strings.Contains(string(ev.Data), `"rule_id":"PI-001"`) {
		t.Fatalf("body %+v", ev)
	}
	if d[0].Header.Get("X-Api-Key") != "k1" {
		t.Fatal("custom header missing")
	}
}

func TestRotationAndStableID(t *testing.T) {
	oldS, newS := secret(t), secret(t)
	// A receiver that only knows the old secret still verifies while both sign.
	rx := siem.NewWebhook(false, oldS)
	srv := httptest.NewServer(rx)
	defer srv.Close()
	s := newSink(t, webhook.Config{Name: "w", URL: srv.URL, Secrets: []string{newS, oldS}})
	rx.Inject(siem.ServerError, 1)
	ev := alert("stable-1")
	err := s.Deliver(context.Background(), []bulwark.Event{ev})
	var de *events.DeliveryError
	if !errors.As(err, &de) || de.Permanent || de.Status != 500 {
		t.Fatalf("want retryable 500, got %v", err)
	}
	if err := s.Deliver(context.Background(), []bulwark.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if d := rx.Deliveries(); len(d) != 1 || d[0].MsgID != "stable-1" || len(strings.Fields(d[0].Header.Get("webhook-signature"))) != 2 {
		t.Fatalf("deliveries %+v", d)
	}
	// A receiver with a secret the sink does not have rejects it.
	bad := siem.NewWebhook(false, secret(t))
	srv2 := httptest.NewServer(bad)
	defer srv2.Close()
	s2 := newSink(t, webhook.Config{Name: "w", URL: srv2.URL, Secrets: []string{newS}})
	if err := s2.Deliver(context.Background(), []bulwark.Event{ev}); !errors.As(err, &de) || !de.Permanent || de.Status != 401 {
		t.Fatalf("want permanent 401, got %v", err)
	}
}

func TestSignMatchesSpecVector(t *testing.T) {
	// Test vector from the Standard Webhooks reference libraries.
	key, _ := base64.StdEncoding.DecodeString("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	got := webhook.Sign([][]byte{key}, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if got != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("signature %s", got)
	}
}

func TestBatchAndFailures(t *testing.T) {
	sec := secret(t)
	rx := siem.NewWebhook(true, sec)
	srv := httptest.NewServer(rx)
	defer srv.Close()
	s := newSink(t, webhook.Config{Name: "w", URL: srv.URL, Secrets: []string{sec}, Batch: 50})
	if s.MaxBatch() != 50 {
		t.Fatal(s.MaxBatch())
	}
	evs := []bulwark.Event{alert("a"), alert("b"), alert("c")}
	evs[2].Data = json.RawMessage("not json")
	rx.Inject(siem.Throttle, 1)
	rx.SetRetryAfter(7)
	var de *events.DeliveryError
	if err := s.Deliver(context.Background(), evs); !errors.As(err, &de) || de.Permanent || de.RetryAfter != 7*time.Second {
		t.Fatalf("want 429 retry after 7s, got %v", err)
	}
	rx.Inject(siem.BadRequest, 1)
	if err := s.Deliver(context.Background(), evs); !errors.As(err, &de) || !de.Permanent {
		t.Fatalf("want permanent 400, got %v", err)
	}
	if err := s.Deliver(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	d := rx.Deliveries()
	if len(d) != 1 || len(d[0].Events) != 3 || d[0].MsgID != webhook.BatchID(evs) || string(d[0].Events[2].Data) != `"not json"` {
		t.Fatalf("deliveries %+v", d)
	}
	if e := rx.Errors(); len(e) > 0 {
		t.Fatal(e)
	}
}

func TestHangTimesOutRetryable(t *testing.T) {
	sec := secret(t)
	rx := siem.NewWebhook(false, sec)
	srv := httptest.NewServer(rx)
	defer srv.Close()
	defer rx.Close()
	s := newSink(t, webhook.Config{Name: "w", URL: srv.URL, Secrets: []string{sec}, Timeout: 200 * time.Millisecond})
	rx.Inject(siem.Hang, 1)
	err := s.Deliver(context.Background(), []bulwark.Event{alert("h")})
	var de *events.DeliveryError
	if err == nil || errors.As(err, &de) {
		t.Fatalf("want a plain (retryable) network error, got %v", err)
	}
}

func TestTLSCustomCA(t *testing.T) {
	sec := secret(t)
	rx := siem.NewWebhook(false, sec)
	srv := httptest.NewTLSServer(rx)
	defer srv.Close()
	// Without trusting the test CA the handshake fails.
	s := newSink(t, webhook.Config{Name: "w", URL: srv.URL, Secrets: []string{sec}})
	if err := s.Deliver(context.Background(), []bulwark.Event{alert("t")}); err == nil {
		t.Fatal("untrusted certificate accepted")
	}
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	s = newSink(t, webhook.Config{Name: "w", URL: srv.URL, Secrets: []string{sec}, TLS: wire.TLS{CAPEM: ca}})
	if err := s.Deliver(context.Background(), []bulwark.Event{alert("t")}); err != nil {
		t.Fatal(err)
	}
	s = newSink(t, webhook.Config{Name: "w", URL: srv.URL, Secrets: []string{sec}, TLS: wire.TLS{InsecureSkipVerify: true}})
	if err := s.Deliver(context.Background(), []bulwark.Event{alert("t2")}); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	good := webhook.Config{Name: "w", URL: "https://soar.example/hook", Secrets: []string{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 32))}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(c *webhook.Config){
		"name is required":                 func(c *webhook.Config) { c.Name = "" },
		"url must be an absolute":          func(c *webhook.Config) { c.URL = "ftp://x" },
		"secrets: at least one":            func(c *webhook.Config) { c.Secrets = nil },
		"secrets[0]: must start":           func(c *webhook.Config) { c.Secrets = []string{"abc"} },
		"secrets[0]: key is 3 bytes":       func(c *webhook.Config) { c.Secrets = []string{"whsec_YWJj"} },
		"cannot be set":                    func(c *webhook.Config) { c.Headers = map[string]string{"Webhook-Signature": "x"} },
		"headers: \"webhook-x\"":           func(c *webhook.Config) { c.Headers = map[string]string{"webhook-x": "x"} },
		"headers: \"Connection\"":          func(c *webhook.Config) { c.Headers = map[string]string{"Connection": "close"} },
		"contains a control":               func(c *webhook.Config) { c.Headers = map[string]string{"X-A": "a\x01"} },
		"secret_headers: line 2 is":        func(c *webhook.Config) { c.SecretHeaders = "X-A: 1\nnocolon" },
		"secret_headers: line 1: \"Host\"": func(c *webhook.Config) { c.SecretHeaders = "Host: evil" },
		"secret_headers: line 2 repeats":   func(c *webhook.Config) { c.SecretHeaders = "X-A: 1\nx-a: 2" },
		"secret_headers: \"x-a\" is also":  func(c *webhook.Config) { c.SecretHeaders = "X-A: 1"; c.Headers = map[string]string{"x-a": "2"} },
		"format must be one of":            func(c *webhook.Config) { c.Format = "cef" },
		"not a valid header name":          func(c *webhook.Config) { c.Headers = map[string]string{"a b": "x"} },
		"batch must be":                    func(c *webhook.Config) { c.Batch = -1 },
		"tls.ca_pem":                       func(c *webhook.Config) { c.TLS.CAPEM = "junk" },
	}
	for want, mut := range cases {
		c := good
		mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
}

func TestSecretHeadersAndFormat(t *testing.T) {
	sec := secret(t)
	rx := siem.NewWebhook(true, sec)
	rx.AnyShape = true
	srv := httptest.NewServer(rx)
	defer srv.Close()
	s := newSink(t, webhook.Config{Name: "soar", URL: srv.URL, Secrets: []string{sec}, Batch: 10, Format: "ocsf",
		Headers: map[string]string{"X-Tenant": "acme"}, SecretHeaders: "Authorization: Bearer tok-123\r\n\n x-api-key :  k2 \n"})
	if err := s.Deliver(context.Background(), []bulwark.Event{alert("o1"), alert("o2")}); err != nil {
		t.Fatal(err)
	}
	if e := rx.Errors(); len(e) > 0 {
		t.Fatal(e)
	}
	d := rx.Deliveries()[0]
	if d.Header.Get("Authorization") != "Bearer tok-123" || d.Header.Get("X-Api-Key") != "k2" || d.Header.Get("X-Tenant") != "acme" {
		t.Fatalf("headers %v", d.Header)
	}
	var f struct {
		ClassUID int `json:"class_uid"`
		Metadata struct {
			UID string `json:"uid"`
		} `json:"metadata"`
	}
	if len(d.Raw) != 2 || json.Unmarshal(d.Raw[1], &f) != nil || f.ClassUID != 2004 || f.Metadata.UID != "o2" {
		t.Fatalf("body %s", d.Raw)
	}
	// A bad secret header names the line, never the value.
	c := webhook.Config{Name: "w", URL: srv.URL, Secrets: []string{sec}, SecretHeaders: "Authorization: Bearer s3cr3t\x01"}
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("error %v", err)
	}
}
