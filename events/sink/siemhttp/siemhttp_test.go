package siemhttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/cef"
	"github.com/bulwarkhq/bulwark/events/sink/format"
	"github.com/bulwarkhq/bulwark/events/sink/siemhttp"
	"github.com/bulwarkhq/bulwark/events/sink/wire"
	"github.com/bulwarkhq/bulwark/fake/siem"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func init() {
	cef.Version = "1.4.0"
	format.Version = "1.4.0"
}

const (
	user     = "bulwark"
	password = "s3cret-pw"
	apiKey   = "k-42-very-secret"
)

func evs(n int) []bulwark.Event {
	out := make([]bulwark.Event, n)
	for i := range out {
		out[i] = bulwark.Event{
			ID: fmt.Sprintf("ev-%d", i), Time: time.Date(2026, 11, 22, 4, 0, i, 123e6, time.UTC), Type: bulwark.EventAlert,
			Action: "policy.block", Severity: bulwark.SeverityHigh, Category: "Guardrails", Actor: "alice",
			Subject: "Blocked Prompt injection (PI-001) from alice on proxy openai",
			Data: json.RawMessage(`{"proxy":"openai","user":"alice","source_ip":"192.0.2.10","model":"gpt-4o-mini",
				"policy":"standard","rule_id":"PI-001","title":"Prompt injection","evidence":"ignore previous ***","action":"block"}`),
		}
	}
	return out
}

func TestValidate(t *testing.T) {
	base := siemhttp.Config{Name: "q", URL: "https://qradar.example:12469/", Format: "leef"}
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		want string // "" when valid
		mut  func(c *siemhttp.Config)
	}{
		{"", func(c *siemhttp.Config) { c.Format, c.BodyFormat = "ndjson", "ocsf" }},
		{"", func(c *siemhttp.Config) {
			c.Format, c.SecretHeaders = "json", "Authorization: Bearer x\n\nX-Api-Key: y\r\n"
		}},
		{"", func(c *siemhttp.Config) {
			c.Username, c.Password, c.Headers = "u", "p", map[string]string{"X-Tenant": "acme"}
		}},
		{"", func(c *siemhttp.Config) { c.MaxBodyBytes, c.MaxBatch = siemhttp.MinBody, 1 }},
		{"name is required", func(c *siemhttp.Config) { c.Name = " " }},
		{"url is required", func(c *siemhttp.Config) { c.URL = "" }},
		{"url must be an absolute", func(c *siemhttp.Config) { c.URL = "qradar:12469" }},
		{"url must not carry credentials", func(c *siemhttp.Config) { c.URL = "https://u:p@qradar.example/" }},
		{"format is required", func(c *siemhttp.Config) { c.Format = "" }},
		{"format must be one of leef, cef, ndjson, json", func(c *siemhttp.Config) { c.Format = "xml" }},
		{"body_format must be one of", func(c *siemhttp.Config) { c.Format, c.BodyFormat = "json", "cef" }},
		{"body_format applies to the ndjson and json formats only", func(c *siemhttp.Config) { c.BodyFormat = "ecs" }},
		{`headers: "X Y" is not a valid header name`, func(c *siemhttp.Config) { c.Headers = map[string]string{"X Y": "v"} }},
		{`headers: "Content-Type" is set by the sink`, func(c *siemhttp.Config) { c.Headers = map[string]string{"Content-Type": "x"} }},
		{`headers: "connection" is set by the sink`, func(c *siemhttp.Config) { c.Headers = map[string]string{"connection": "close"} }},
		{`headers: value of "X-A" contains a control character`, func(c *siemhttp.Config) { c.Headers = map[string]string{"X-A": "a\r\nB: c"} }},
		{`secret_headers: line 2 is not "Name: value"`, func(c *siemhttp.Config) { c.SecretHeaders = "X-A: 1\nnope" }},
		{`secret_headers: line 1: "Transfer-Encoding" is set`, func(c *siemhttp.Config) { c.SecretHeaders = "Transfer-Encoding: chunked" }},
		{`secret_headers: line 2 repeats "x-a"`, func(c *siemhttp.Config) { c.SecretHeaders = "X-A: 1\nx-a: 2" }},
		{`secret_headers: "x-a" is also in headers`, func(c *siemhttp.Config) {
			c.Headers, c.SecretHeaders = map[string]string{"x-a": "1"}, "X-A: 2"
		}},
		{"username is required with a password", func(c *siemhttp.Config) { c.Password = "p" }},
		{"password is required with a username", func(c *siemhttp.Config) { c.Username = "u" }},
		{"username must not contain ':'", func(c *siemhttp.Config) { c.Username, c.Password = "a:b", "p" }},
		{"secret_headers: Authorization conflicts", func(c *siemhttp.Config) {
			c.Username, c.Password, c.SecretHeaders = "u", "p", "authorization: Bearer x"
		}},
		{"headers: Authorization conflicts", func(c *siemhttp.Config) {
			c.Username, c.Password, c.Headers = "u", "p", map[string]string{"AUTHORIZATION": "x"}
		}},
		{"max_batch must be between 1 and 10000", func(c *siemhttp.Config) { c.MaxBatch = 10001 }},
		{"max_batch must be", func(c *siemhttp.Config) { c.MaxBatch = -1 }},
		{"max_body_bytes must be between 131072", func(c *siemhttp.Config) { c.MaxBodyBytes = 1000 }},
		{"max_body_bytes must be", func(c *siemhttp.Config) { c.MaxBodyBytes = 1 << 30 }},
		{"timeout must not be negative", func(c *siemhttp.Config) { c.Timeout = -time.Second }},
		{"tls.ca_pem", func(c *siemhttp.Config) { c.TLS.CAPEM = "not a cert" }},
	}
	for _, tc := range cases {
		c := base
		tc.mut(&c)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("valid config rejected: %v", err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("want %q, got %v", tc.want, err)
		}
		if err != nil && (strings.Contains(err.Error(), "Bearer x") || strings.Contains(err.Error(), "chunked")) {
			t.Errorf("error repeats a header value: %v", err)
		}
	}
	if _, err := siemhttp.New(siemhttp.Config{Name: "q", URL: "https://q"}); err == nil || !strings.Contains(err.Error(), `siem_http "q": format is required`) {
		t.Fatalf("New: %v", err)
	}
}

// receiver serves rx and returns a sink posting to it.
func receiver(t *testing.T, rx http.Handler, cfg siemhttp.Config) events.Sink {
	t.Helper()
	srv := httptest.NewServer(rx)
	t.Cleanup(srv.Close)
	cfg.Name = "siem"
	cfg.URL = srv.URL + "/events"
	s, err := siemhttp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// capture records raw request bodies in front of a receiver.
type capture struct {
	next   http.Handler
	bodies [][]byte
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(r.Body)
	c.bodies = append(c.bodies, buf.Bytes())
	r.Body = http.NoBody
	r2 := r.Clone(r.Context())
	r2.Body = readCloser{bytes.NewReader(buf.Bytes())}
	c.next.ServeHTTP(w, r2)
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// TestGoldenBodies: the exact body of each format for two events, and the
// receiver's reading of it.
func TestGoldenBodies(t *testing.T) {
	cases := []struct {
		file, format, bodyFormat string
	}{
		{"leef.txt", "leef", ""},
		{"cef.txt", "cef", ""},
		{"ndjson_native.txt", "ndjson", ""},
		{"ndjson_ecs.txt", "ndjson", "ecs"},
		{"json_ocsf.txt", "json", "ocsf"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			rx := siem.NewLines(tc.format)
			c := &capture{next: rx}
			s := receiver(t, c, siemhttp.Config{Format: tc.format, BodyFormat: tc.bodyFormat})
			if err := s.Deliver(context.Background(), evs(2)); err != nil {
				t.Fatal(err)
			}
			if e := rx.Errors(); len(e) > 0 {
				t.Fatal(e)
			}
			got := c.bodies[0]
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("body differs from %s:\n%s", path, got)
			}
			recs := rx.Records()
			if len(recs) != 2 || recs[0].ID != "ev-0" || recs[1].ID != "ev-1" {
				t.Fatalf("records %+v", recs)
			}
			if ct := rx.Headers()[0].Get("Content-Type"); ct != siemhttp.ContentType(tc.format) {
				t.Fatalf("content type %s", ct)
			}
		})
	}
}

func TestHeadersAndAuth(t *testing.T) {
	rx := siem.NewLines("leef").WithBasic(user, password)
	rx.RequireHeaders = map[string]string{"X-Api-Key": apiKey, "X-Tenant": "acme"}
	s := receiver(t, rx, siemhttp.Config{Format: "leef", Username: user, Password: password,
		Headers: map[string]string{"X-Tenant": "acme"}, SecretHeaders: "x-api-key: " + apiKey + "\n"})
	if err := s.Deliver(context.Background(), evs(3)); err != nil {
		t.Fatal(err)
	}
	h := rx.Headers()[0]
	if len(rx.Records()) != 3 || h.Get("User-Agent") != "Bulwark-SIEM-HTTP/1" {
		t.Fatalf("records %d headers %v", len(rx.Records()), h)
	}
	// A generic JSON receiver with a bearer token and its own User-Agent.
	jrx := siem.NewLines("json")
	jrx.RequireHeaders = map[string]string{"Authorization": "Bearer " + apiKey, "User-Agent": "soc-pipeline"}
	js := receiver(t, jrx, siemhttp.Config{Format: "json", SecretHeaders: "Authorization: Bearer " + apiKey,
		Headers: map[string]string{"User-Agent": "soc-pipeline"}})
	if err := js.Deliver(context.Background(), evs(2)); err != nil || len(jrx.Records()) != 2 {
		t.Fatalf("json: %v %d", err, len(jrx.Records()))
	}
}

func TestFailureClassification(t *testing.T) {
	cases := []struct {
		name       string
		fault      siem.Fault
		cfg        siemhttp.Config
		permanent  bool
		status     int
		retryAfter time.Duration
	}{
		{"throttled", siem.Throttle, siemhttp.Config{}, false, 429, 3 * time.Second},
		{"server error", siem.ServerError, siemhttp.Config{}, false, 500, 0},
		{"unavailable", siem.Busy, siemhttp.Config{}, false, 503, 0},
		{"bad request", siem.BadRequest, siemhttp.Config{}, true, 400, 0},
		{"no credentials", 0, siemhttp.Config{Username: "", Password: ""}, true, 401, 0},
		{"wrong password", 0, siemhttp.Config{Username: user, Password: "wrong-" + password}, true, 403, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rx := siem.NewLines("cef").WithBasic(user, password)
			rx.SetRetryAfter(3)
			cfg := tc.cfg
			if tc.fault != 0 {
				cfg.Username, cfg.Password = user, password
				rx.Inject(tc.fault, 1)
			}
			cfg.Format = "cef"
			s := receiver(t, rx, cfg)
			err := s.Deliver(context.Background(), evs(2))
			var de *events.DeliveryError
			if !errors.As(err, &de) || de.Permanent != tc.permanent || de.Status != tc.status || de.RetryAfter != tc.retryAfter {
				t.Fatalf("got %#v (%v)", de, err)
			}
			if strings.Contains(err.Error(), password) {
				t.Fatalf("error holds the password: %v", err)
			}
			if tc.fault != 0 {
				if err := s.Deliver(context.Background(), evs(2)); err != nil || len(rx.Records()) != 2 {
					t.Fatalf("retry: %v", err)
				}
			}
		})
	}
	// A receiver that hangs: the deadline gives a plain (retryable) error.
	rx := siem.NewLines("cef")
	rx.Inject(siem.Hang, 1)
	s := receiver(t, rx, siemhttp.Config{Format: "cef"})
	t.Cleanup(rx.Close) // before the server's Close, which waits for the hung request
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var de *events.DeliveryError
	if err := s.Deliver(ctx, evs(1)); err == nil || errors.As(err, &de) {
		t.Fatalf("hang: want a network error, got %v", err)
	}
	// A redirect is not followed (it would resend credentials elsewhere).
	redirect := receiver(t, http.RedirectHandler("https://elsewhere.example/", http.StatusFound), siemhttp.Config{Format: "cef"})
	if err := redirect.Deliver(context.Background(), evs(1)); !errors.As(err, &de) || !de.Permanent || de.Status != 302 {
		t.Fatalf("redirect: %v", err)
	}
	// Nothing to send is not a request.
	if err := redirect.Deliver(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

// big returns n events whose encodings are each a few KiB.
func big(n int) []bulwark.Event {
	out := evs(n)
	for i := range out {
		out[i].Data = json.RawMessage(`{"rule_id":"PI-001","evidence":"` + strings.Repeat("x", 1900) + `","blob":"` + strings.Repeat("y", 3000) + `"}`)
	}
	return out
}

func TestLargeBatchesAreSplit(t *testing.T) {
	for _, f := range siemhttp.Formats {
		t.Run(f, func(t *testing.T) {
			rx := siem.NewLines(f)
			rx.MaxBody = siemhttp.MinBody
			s := receiver(t, rx, siemhttp.Config{Format: f, MaxBodyBytes: siemhttp.MinBody, MaxBatch: 200})
			if s.MaxBatch() != 200 {
				t.Fatal(s.MaxBatch())
			}
			if err := s.Deliver(context.Background(), big(200)); err != nil {
				t.Fatal(err)
			}
			if e := rx.Errors(); len(e) > 0 {
				t.Fatal(e)
			}
			recs := rx.Records()
			if len(recs) != 200 || len(rx.Batches()) < 2 {
				t.Fatalf("%d records in %v", len(recs), rx.Batches())
			}
			for i, r := range recs {
				if r.ID != fmt.Sprintf("ev-%d", i) {
					t.Fatalf("record %d is %s: order lost", i, r.ID)
				}
			}
		})
	}
	// One event larger than any body: permanent, and nothing is sent.
	rx := siem.NewLines("ndjson")
	s := receiver(t, rx, siemhttp.Config{Format: "ndjson", MaxBodyBytes: siemhttp.MinBody})
	huge := evs(2)
	huge[1].Data = json.RawMessage(`{"blob":"` + strings.Repeat("z", siemhttp.MinBody) + `"}`)
	var de *events.DeliveryError
	if err := s.Deliver(context.Background(), huge); !errors.As(err, &de) || !de.Permanent || !strings.Contains(err.Error(), "event ev-1 is") {
		t.Fatalf("got %v", err)
	}
	if rx.Requests() != 0 {
		t.Fatalf("%d requests sent", rx.Requests())
	}
	// A failure on a later part fails the whole delivery (retryable).
	rx2 := siem.NewLines("leef")
	s2 := receiver(t, rx2, siemhttp.Config{Format: "leef", MaxBodyBytes: siemhttp.MinBody})
	if err := s2.Deliver(context.Background(), big(100)); err != nil {
		t.Fatal(err)
	}
	if n := len(rx2.Batches()); n < 2 {
		t.Fatalf("only %d parts", n)
	}
	wrapped := &failNth{next: rx2, n: 2}
	s3 := receiver(t, wrapped, siemhttp.Config{Format: "leef", MaxBodyBytes: siemhttp.MinBody})
	if err := s3.Deliver(context.Background(), big(100)); !errors.As(err, &de) || de.Permanent || de.Status != 503 {
		t.Fatalf("second part failing: %v", err)
	}
}

// failNth answers 503 to its n-th request.
type failNth struct {
	next    http.Handler
	n, seen int
}

func (f *failNth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.seen++
	if f.seen == f.n {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	f.next.ServeHTTP(w, r)
}

func TestTLS(t *testing.T) {
	rx := siem.NewLines("leef")
	srv := httptest.NewTLSServer(rx)
	defer srv.Close()
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	untrusted, err := siemhttp.New(siemhttp.Config{Name: "q", URL: srv.URL, Format: "leef"})
	if err != nil {
		t.Fatal(err)
	}
	var de *events.DeliveryError
	if err := untrusted.Deliver(context.Background(), evs(1)); err == nil || errors.As(err, &de) {
		t.Fatalf("unknown CA: want a retryable network error, got %v", err)
	}
	for _, tlsCfg := range []wire.TLS{{CAPEM: ca}, {InsecureSkipVerify: true}} {
		s, err := siemhttp.New(siemhttp.Config{Name: "q", URL: srv.URL, Format: "leef", TLS: tlsCfg})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Deliver(context.Background(), evs(1)); err != nil {
			t.Fatal(err)
		}
	}
	if len(rx.Records()) != 2 {
		t.Fatal(rx.Records())
	}
}

// TestLongestLinesFitMinBody: with every field at the encoders' limits in
// 4-byte runes, a CEF or LEEF line still fits the smallest body, so only
// JSON events can be refused as too large.
func TestLongestLinesFitMinBody(t *testing.T) {
	long := strings.Repeat("\U0001D11E", 3000)
	data := map[string]string{}
	for _, k := range []string{"title", "rule_id", "action", "user", "user_email", "group", "proxy", "target", "policy", "evidence", "request_id"} {
		data[k] = long
	}
	raw, _ := json.Marshal(data)
	ev := bulwark.Event{ID: long, Time: time.Unix(1, 0), Type: bulwark.EventType(long), Action: long, Severity: bulwark.SeverityHigh,
		Category: long, Actor: long, Subject: long, Data: raw}
	for name, line := range map[string]string{"cef": cef.CEF(&ev), "leef": cef.LEEF(&ev)} {
		if len(line)+1 > siemhttp.MinBody {
			t.Errorf("%s line of %d bytes exceeds MinBody %d", name, len(line), siemhttp.MinBody)
		}
	}
}
