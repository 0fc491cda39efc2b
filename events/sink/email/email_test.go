package email

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func validConfig() Config {
	return Config{Name: "soc-mail", Host: "smtp.example.com", Username: "bulwark", Password: "hunter2-long-secret",
		From: "Bulwark <bulwark@example.com>", To: []string{"soc@example.com"}}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // prefix of the error; "" for valid
	}{
		{"valid", func(*Config) {}, ""},
		{"valid none without auth", func(c *Config) { c.Security, c.Username, c.Password = None, "", "" }, ""},
		{"valid everything", func(c *Config) {
			c.Security, c.Port, c.Auth, c.Format, c.ReplyTo = ImplicitTLS, 2465, AuthLogin, FormatHTML, "soc-lead@example.com"
			c.To = []string{"a@example.com", "SOC <b@example.com>"}
			c.ConsoleURL, c.DigestThreshold, c.MaxBatch, c.Timeout = "https://bulwark.example", 10, 100, 5*time.Second
		}, ""},
		{"valid ipv6 host", func(c *Config) { c.Host = "::1" }, ""},
		{"name", func(c *Config) { c.Name = " " }, "name is required"},
		{"host missing", func(c *Config) { c.Host = "" }, "host is required"},
		{"host with port", func(c *Config) { c.Host = "smtp.example.com:587" }, "host must be a host name"},
		{"host url", func(c *Config) { c.Host = "smtp://smtp.example.com" }, "host must be a host name"},
		{"port", func(c *Config) { c.Port = 70000 }, "port must be between 1 and 65535"},
		{"security", func(c *Config) { c.Security = "ssl" }, "security must be one of starttls, tls, none"},
		{"password without username", func(c *Config) { c.Username = "" }, "username is required when a password is set"},
		{"username without password", func(c *Config) { c.Password = "" }, "password is required when username is set"},
		{"password in clear", func(c *Config) { c.Security = None }, "security none cannot carry a username and password"},
		{"username control", func(c *Config) { c.Username = "a\r\nMAIL FROM:<x>" }, "username must not contain control characters"},
		{"auth", func(c *Config) { c.Auth = "cram-md5" }, "auth must be one of plain, login"},
		{"from missing", func(c *Config) { c.From = "" }, "from is required"},
		{"from bad", func(c *Config) { c.From = "not an address" }, "from must be an e-mail address"},
		{"from injection", func(c *Config) { c.From = "a@example.com\r\nBcc: x@evil.example" }, "from must not contain control characters"},
		{"to empty", func(c *Config) { c.To = nil }, "to must list at least one recipient address"},
		{"to bad", func(c *Config) { c.To = []string{"soc@example.com", "soc"} }, "to[1] must be an e-mail address"},
		{"to too many", func(c *Config) { c.To = make([]string, MaxRcpts+1) }, "to lists 51 addresses"},
		{"reply_to", func(c *Config) { c.ReplyTo = "@@" }, "reply_to must be an e-mail address"},
		{"format", func(c *Config) { c.Format = "markdown" }, "format must be one of html, text, both"},
		{"console_url", func(c *Config) { c.ConsoleURL = "bulwark.example" }, "console_url must be an absolute"},
		{"max_batch", func(c *Config) { c.MaxBatch = MaxBatchSize + 1 }, "max_batch must be between 1 and 500"},
		{"digest_threshold 1", func(c *Config) { c.DigestThreshold = 1 }, "digest_threshold must be 0 (no digests) or between 2 and max_batch (50)"},
		{"digest_threshold above batch", func(c *Config) { c.MaxBatch, c.DigestThreshold = 10, 11 }, "digest_threshold must be 0 (no digests) or between 2 and max_batch (10)"},
		{"timeout", func(c *Config) { c.Timeout = -1 }, "timeout must not be negative"},
		{"tls.ca_pem", func(c *Config) { c.TLS.CAPEM = "not a certificate" }, "tls.ca_pem: no PEM certificate found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if _, err := New(c); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want prefix %q", err, tt.want)
			}
			if strings.Contains(err.Error(), c.Password) && c.Password != "" {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	for _, tt := range []struct {
		security string
		port     int
	}{{"", 587}, {StartTLS, 587}, {ImplicitTLS, 465}, {None, 25}} {
		c := validConfig()
		c.Security = tt.security
		if tt.security == None {
			c.Username, c.Password = "", ""
		}
		s, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		es := s.(*sink)
		if es.port != tt.port || es.MaxBatch() != DefaultSingleBatch || es.cfg.Format != FormatBoth || es.domain != "example.com" {
			t.Errorf("security %q: port %d, batch %d, format %q, domain %q", tt.security, es.port, es.MaxBatch(), es.cfg.Format, es.domain)
		}
	}
	c := validConfig()
	c.DigestThreshold = 5
	if s, err := New(c); err != nil || s.MaxBatch() != DefaultBatch {
		t.Errorf("with digests: batch %v, %v; want %d", s, err, DefaultBatch)
	}
}

// Fixed events for the golden files.
var (
	at = time.Date(2026, 11, 22, 4, 0, 0, 123000000, time.UTC)

	alertEvent = bulwark.Event{
		ID: "0f6b1d8e-3c1a-4f6e-9a51-6d2f0c7b9e11", Time: at, Type: bulwark.EventAlert, Action: "policy.block",
		Severity: bulwark.SeverityHigh, Category: "Guardrails", Actor: "alice",
		Subject: "Blocked Prompt injection (PI-001) from alice on proxy openai",
		Data: json.RawMessage(`{"title":"Prompt injection <script>alert(1)</script>","action":"block","user":"alice",
			"user_email":"alice@example.com","group":"eng & ops","source_ip":"192.0.2.10","proxy":"openai",
			"target":"gpt-4o-mini","policy":"default","rule_id":"PI-001",
			"evidence":"ignore previous instructions and <img src=x onerror=alert(1)> ****\nsecond line"}`),
	}
	authEvent = bulwark.Event{
		ID: "7d1c0a52-9b1e-4c55-8f0e-2a7b5d3c1e90", Time: at.Add(time.Minute), Type: bulwark.EventAuth,
		Action: "auth.login_failed", Severity: bulwark.SeverityMedium, Actor: "mallory",
		Subject: "Failed login for mallory", Data: json.RawMessage(`{"source_ip":"198.51.100.7","reason":"bad password"}`),
	}
	criticalEvent = bulwark.Event{
		ID: "c3a1f0e2-5d4b-4e8a-9c7f-1b2d3e4f5a6b", Time: at.Add(2 * time.Minute), Type: bulwark.EventAlert,
		Action: "canary.leak", Severity: bulwark.SeverityCritical, Category: "Canary Tokens",
		Subject: "Canary token leaked in a response", Data: json.RawMessage(`{"title":"Canary token leaked","proxy":"anthropic","rule_id":"CT-001"}`),
	}
)

func goldenSink(t *testing.T) *sink {
	t.Helper()
	c := validConfig()
	c.ConsoleURL = "https://bulwark.example/"
	c.DigestThreshold = 3
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*sink)
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it); got:\n%s", name, got)
	}
}

func TestGolden(t *testing.T) {
	s := goldenSink(t)
	for _, tt := range []struct {
		name string
		ev   bulwark.Event
	}{{"alert", alertEvent}, {"auth", authEvent}} {
		r, err := s.renderEvent(&tt.ev)
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, tt.name+".html", r.HTML)
		checkGolden(t, tt.name+".txt", r.Text)
	}
	r, err := s.renderDigest([]bulwark.Event{alertEvent, authEvent, criticalEvent})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "digest.html", r.HTML)
	checkGolden(t, "digest.txt", r.Text)
}

func TestRenderEscapes(t *testing.T) {
	s := goldenSink(t)
	r, err := s.renderEvent(&alertEvent)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<img", "eng & ops"} {
		if strings.Contains(r.HTML, bad) {
			t.Errorf("HTML body holds unescaped %q", bad)
		}
	}
	for _, want := range []string{"Prompt injection &lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;",
		"eng &amp; ops", `href="https://bulwark.example/alerts?alert=0f6b1d8e-3c1a-4f6e-9a51-6d2f0c7b9e11"`,
		"background-color:#F04438"} {
		if !strings.Contains(r.HTML, want) {
			t.Errorf("HTML body lacks %q", want)
		}
	}
	if !strings.Contains(r.Text, "Prompt injection <script>alert(1)</script>") {
		t.Errorf("text body should show the title as is:\n%s", r.Text)
	}
}

func TestSubject(t *testing.T) {
	tests := []struct {
		name string
		ev   bulwark.Event
		want string
	}{
		{"alert", alertEvent, "[AI Security Alert] High: Prompt injection <script>alert(1)</script>"},
		{"critical", criticalEvent, "[AI Security Alert] Critical: Canary token leaked"},
		{"auth", authEvent, "[Bulwark Auth] Medium: Failed login for mallory"},
		{"alert without title", bulwark.Event{Type: bulwark.EventAlert, Severity: bulwark.SeverityLow, Subject: "PII in a prompt"},
			"[AI Security Alert] Low: PII in a prompt"},
		{"no severity", bulwark.Event{Type: bulwark.EventSystem, Action: "integration.test"}, "[Bulwark System] Info: integration.test"},
		{"header injection", bulwark.Event{Type: bulwark.EventAlert, Severity: bulwark.SeverityHigh,
			Data: json.RawMessage(`{"title":"a\r\nBcc: victim@example.com\r\n\r\nbody\u2028x\u202eevil"}`)},
			"[AI Security Alert] High: a Bcc: victim@example.com body x evil"},
		{"long", bulwark.Event{Type: bulwark.EventAlert, Severity: bulwark.SeverityHigh, Subject: strings.Repeat("x", 400)},
			"[AI Security Alert] High: " + strings.Repeat("x", maxSubject-len("[AI Security Alert] High: ")-1) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Subject(&tt.ev); got != tt.want {
				t.Errorf("Subject = %q, want %q", got, tt.want)
			}
		})
	}
	evs := []bulwark.Event{authEvent, alertEvent, criticalEvent}
	if got, want := DigestSubject(evs), "[AI Security Alert] Digest: 3 events (highest: Critical)"; got != want {
		t.Errorf("DigestSubject = %q, want %q", got, want)
	}
	if got, want := DigestSubject([]bulwark.Event{authEvent, authEvent}), "[Bulwark] Digest: 2 events (highest: Medium)"; got != want {
		t.Errorf("DigestSubject without alerts = %q, want %q", got, want)
	}
}

func TestMessageID(t *testing.T) {
	if got := messageID(&alertEvent); got != "bulwark-event-0f6b1d8e-3c1a-4f6e-9a51-6d2f0c7b9e11" {
		t.Errorf("messageID = %q", got)
	}
	odd := bulwark.Event{ID: "a>b@c"}
	if got := messageID(&odd); got == messageID(&bulwark.Event{ID: "a>b@d"}) || strings.ContainsAny(got, "<>@") {
		t.Errorf("messageID of an odd id = %q", got)
	}
	a := digestID([]bulwark.Event{alertEvent, authEvent})
	if b := digestID([]bulwark.Event{authEvent, alertEvent}); a != b {
		t.Errorf("digestID depends on order: %q != %q", a, b)
	}
	if c := digestID([]bulwark.Event{alertEvent}); c == a {
		t.Errorf("digestID ignores events")
	}
}

func TestFailure(t *testing.T) {
	s := goldenSink(t)
	pw := s.cfg.Password
	tests := []struct {
		name      string
		err       error
		permanent bool
	}{
		{"auth failed", fmt.Errorf("SMTP AUTH failed: %w", &textproto.Error{Code: 535, Msg: "5.7.8 Authentication credentials invalid"}), true},
		{"mailbox unavailable", &textproto.Error{Code: 550, Msg: "Mailbox unavailable"}, true},
		{"greylisted", &textproto.Error{Code: 451, Msg: "4.7.1 Greylisted"}, false},
		{"network", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), false},
		{"echoed password", &textproto.Error{Code: 535, Msg: "bad password " + pw}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.failure(context.Background(), "smtp x:587", tt.err)
			var de *events.DeliveryError
			if !errors.As(err, &de) || de.Permanent != tt.permanent {
				t.Fatalf("failure = %#v, want permanent=%v", err, tt.permanent)
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("error shows the password: %v", err)
			}
			if !strings.HasPrefix(de.Err.Error(), "smtp x:587: ") {
				t.Errorf("error lacks the server: %v", err)
			}
		})
	}
}

func TestTLSConfig(t *testing.T) {
	tc, err := tlsConfig(wire.TLS{InsecureSkipVerify: true}, "smtp.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if tc.ServerName != "smtp.example.com" || !tc.InsecureSkipVerify || tc.MinVersion == 0 {
		t.Errorf("tls config = %+v", tc)
	}
}

// FuzzRender checks that no event data breaks rendering, puts a line break
// in the subject or markup in the HTML body: the body has as many "<" as
// the same event with every "<" in its data replaced.
func FuzzRender(f *testing.F) {
	f.Add("Prompt <script>x</script>", "evidence\r\nBcc: x", "high")
	f.Add("\u202e\x00", "", "")
	f.Fuzz(func(t *testing.T, title, evidence, severity string) {
		s := &sink{cfg: Config{ConsoleURL: "https://b.example"}}
		render := func(title, evidence string) *rendered {
			d, _ := json.Marshal(map[string]string{"title": title, "evidence": evidence, "user": title})
			ev := bulwark.Event{ID: "id-1", Type: bulwark.EventAlert, Severity: bulwark.Severity(severity), Subject: evidence, Data: d}
			r, err := s.renderEvent(&ev)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.renderDigest([]bulwark.Event{ev, ev}); err != nil {
				t.Fatal(err)
			}
			return r
		}
		r := render(title, evidence)
		if strings.ContainsAny(r.Subject, "\r\n") {
			t.Fatalf("subject holds a line break: %q", r.Subject)
		}
		plain := render(strings.ReplaceAll(title, "<", "x"), strings.ReplaceAll(evidence, "<", "x"))
		if a, b := strings.Count(r.HTML, "<"), strings.Count(plain.HTML, "<"); a != b {
			t.Fatalf("markup from the data reached the HTML body (%d tags, %d without it):\n%s", a, b, r.HTML)
		}
	})
}
