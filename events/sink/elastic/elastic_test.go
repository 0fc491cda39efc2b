package elastic_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/elastic"
	"github.com/bulwarkhq/bulwark/events/sink/wire"
	"github.com/bulwarkhq/bulwark/fake/siem"
)

const apiKey = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="

func evs(n int) []bulwark.Event {
	out := make([]bulwark.Event, n)
	for i := range out {
		out[i] = bulwark.Event{
			ID: fmt.Sprintf("ev-%d", i), Time: time.Date(2026, 11, 22, 23, 59, 59, 0, time.UTC), Type: bulwark.EventAlert,
			Action: "policy.block", Severity: bulwark.SeverityHigh, Category: "Guardrails", Actor: "alice", Subject: "Blocked",
			Data: json.RawMessage(`{"proxy":"openai","rule_id":"PI-001","source_ip":"192.0.2.1"}`),
		}
	}
	return out
}

func setup(t *testing.T, rx *siem.Elastic, cfg elastic.Config) events.Sink {
	t.Helper()
	srv := httptest.NewServer(rx)
	t.Cleanup(srv.Close)
	t.Cleanup(rx.Close)
	cfg.Name, cfg.URL = "es", srv.URL
	s, err := elastic.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBulkCreatesWithIDs(t *testing.T) {
	for _, f := range []string{"", "native", "ocsf"} {
		rx := siem.NewElastic().WithAPIKey(apiKey)
		s := setup(t, rx, elastic.Config{APIKey: apiKey, Index: "bulwark-{yyyy.MM.dd}", Pipeline: "geoip", Format: f})
		if s.MaxBatch() != 500 {
			t.Fatal(s.MaxBatch())
		}
		if err := s.Deliver(context.Background(), evs(3)); err != nil {
			t.Fatal(err)
		}
		if e := rx.Errors(); len(e) > 0 {
			t.Fatal(e)
		}
		docs := rx.Docs()
		if len(docs) != 3 || docs[1].ID != "ev-1" || docs[1].Index != "bulwark-2026.11.22" || docs[1].Pipeline != "geoip" {
			t.Fatalf("%s: docs %+v", f, docs)
		}
		var doc map[string]any
		_ = json.Unmarshal(docs[0].Source, &doc)
		switch f {
		case "": // ecs
			if doc["@timestamp"] != "2026-11-22T23:59:59Z" || doc["event"].(map[string]any)["id"] != "ev-0" {
				t.Fatalf("ecs doc %s", docs[0].Source)
			}
		case "native":
			if doc["id"] != "ev-0" || doc["severity"] != "high" {
				t.Fatalf("native doc %s", docs[0].Source)
			}
		case "ocsf":
			if doc["class_uid"] != 2004.0 || doc["metadata"].(map[string]any)["uid"] != "ev-0" {
				t.Fatalf("ocsf doc %s", docs[0].Source)
			}
		}
		q, _ := url.ParseQuery(rx.Queries()[0])
		if q.Get("pipeline") != "geoip" || !strings.Contains(q.Get("filter_path"), "items.*.error.reason") {
			t.Fatalf("query %v", q)
		}
	}
}

func TestRetriedBatchIsIdempotent(t *testing.T) {
	rx := siem.NewElastic().WithBasic("bulwark", "s3cret")
	s := setup(t, rx, elastic.Config{Username: "bulwark", Password: "s3cret"})
	batch := evs(4)
	// The first half arrived before; then ev-2 is throttled: the batch is
	// retried as a whole.
	if err := s.Deliver(context.Background(), batch[:2]); err != nil {
		t.Fatal(err)
	}
	rx.FailID("ev-2", 429)
	var de *events.DeliveryError
	err := s.Deliver(context.Background(), batch)
	if !errors.As(err, &de) || de.Permanent || de.Status != 429 || !strings.Contains(err.Error(), "1 of 4 events to retry; first: event ev-2 (HTTP 429) es_rejected_execution_exception") {
		t.Fatalf("want retryable 429, got %v", err)
	}
	// The retry: ev-0, ev-1 and ev-3 answer 409 (already there), ev-2 is created.
	if err := s.Deliver(context.Background(), batch); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n := len(rx.Docs()); n != 4 {
		t.Fatalf("%d docs, want 4 (no duplicates)", n)
	}
	if e := rx.Errors(); len(e) > 0 {
		t.Fatal(e)
	}
}

func TestItemAndRequestFailures(t *testing.T) {
	rx := siem.NewElastic().WithAPIKey(apiKey)
	s := setup(t, rx, elastic.Config{APIKey: apiKey})
	var de *events.DeliveryError
	check := func(name string, permanent bool, status int, text string) {
		t.Helper()
		err := s.Deliver(context.Background(), evs(3))
		if !errors.As(err, &de) || de.Permanent != permanent || de.Status != status || !strings.Contains(err.Error(), text) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	rx.FailItems(400, 1)
	check("mapping error", true, 400, "1 of 3 events rejected; first: event ev-0 (HTTP 400) document_parsing_exception")
	rx.FailItems(400, 1)
	rx.FailItems(503, 1)
	check("retryable wins", false, 503, "unavailable_shards_exception")
	rx.SetRetryAfter(4)
	rx.Inject(siem.Throttle, 1)
	check("429", false, 429, "es_rejected_execution_exception")
	if de.RetryAfter != 4*time.Second {
		t.Errorf("retry after %v", de.RetryAfter)
	}
	rx.Inject(siem.Busy, 1)
	check("503", false, 503, "cluster_block_exception")
	rx.Inject(siem.BadRequest, 1)
	check("400", true, 400, "illegal_argument_exception")

	bad := setup(t, siem.NewElastic().WithAPIKey(apiKey), elastic.Config{APIKey: "d3Jvbmc="})
	if err := bad.Deliver(context.Background(), evs(1)); !errors.As(err, &de) || !de.Permanent || de.Status != 401 ||
		!strings.Contains(err.Error(), "security_exception") || strings.Contains(err.Error(), "d3Jvbmc") {
		t.Errorf("bad key: %v", err)
	}
	none := setup(t, siem.NewElastic().WithBasic("u", "p"), elastic.Config{})
	if err := none.Deliver(context.Background(), evs(1)); !errors.As(err, &de) || !de.Permanent || !strings.Contains(err.Error(), "missing authentication") {
		t.Errorf("no auth: %v", err)
	}
	rx.Inject(siem.Hang, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Deliver(ctx, evs(1)); err == nil || errors.As(err, &de) {
		t.Errorf("hang: want a plain network error, got %v", err)
	}
}

func TestUnreadableAnswerRetries(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`<html>proxy</html>`))
	}))
	defer srv.Close()
	s, err := elastic.New(elastic.Config{Name: "es", URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	var de *events.DeliveryError
	if err := s.Deliver(context.Background(), evs(1)); err == nil || errors.As(err, &de) {
		t.Fatalf("want a retryable plain error, got %v", err)
	}
}

func TestTLSAndPathPrefix(t *testing.T) {
	rx := siem.NewElastic()
	mux := http.NewServeMux()
	mux.Handle("/es/", http.StripPrefix("/es", rx))
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	s, err := elastic.New(elastic.Config{Name: "es", URL: srv.URL + "/es/", TLS: wire.TLS{CAPEM: ca}, MaxBatch: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(context.Background(), evs(2)); err != nil {
		t.Fatal(err)
	}
	if len(rx.Docs()) != 2 || rx.Docs()[0].Index != "bulwark-events" {
		t.Fatal(rx.Docs())
	}
}

func TestValidate(t *testing.T) {
	base := elastic.Config{Name: "es", URL: "https://es:9200", APIKey: apiKey}
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	for want, mut := range map[string]func(c *elastic.Config){
		"name is required":              func(c *elastic.Config) { c.Name = "" },
		"url is required":               func(c *elastic.Config) { c.URL = "" },
		"url must not carry":            func(c *elastic.Config) { c.URL = "https://u:p@es:9200" },
		"index must be lower case":      func(c *elastic.Config) { c.Index = "Bulwark" },
		"index must not contain":        func(c *elastic.Config) { c.Index = "a b" },
		"index must not start":          func(c *elastic.Config) { c.Index = "_x" },
		"index date part {HH} may":      func(c *elastic.Config) { c.Index = "x-{HH}" },
		"index may hold one":            func(c *elastic.Config) { c.Index = "x-{yyyy}-{MM}" },
		"pipeline must be":              func(c *elastic.Config) { c.Pipeline = "a/b" },
		"format must be one of":         func(c *elastic.Config) { c.Format = "cef" },
		"api_key and username/password": func(c *elastic.Config) { c.Username, c.Password = "u", "p" },
		"api_key must not":              func(c *elastic.Config) { c.APIKey = "a b" },
		"password is required":          func(c *elastic.Config) { c.APIKey, c.Username = "", "u" },
		"username is required":          func(c *elastic.Config) { c.APIKey, c.Password = "", "p" },
		"max_batch must be":             func(c *elastic.Config) { c.MaxBatch = -1 },
		"timeout must not":              func(c *elastic.Config) { c.Timeout = -1 },
		"tls.ca_pem":                    func(c *elastic.Config) { c.TLS.CAPEM = "x" },
	} {
		c := base
		mut(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), strings.Fields(want)[0]) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
}
